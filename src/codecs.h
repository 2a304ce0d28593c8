// Chooses the codec behind the seam (codec.h) for a VA profile: the context
// asks for one and never names a codec itself.
#pragma once

#include <va/va.h>

#include <cstdint>
#include <memory>

#include "codec.h"
#include "log.h"
#include "v4l2/capabilities.h"
#include "v4l2/result.h"

namespace v4l2va {

// The codec that decodes `profile` on `device`, for pictures of at most
// `width` x `height`. Fails (logged) when the device does not offer the
// profile or a mode the codec needs.
Result<std::unique_ptr<Codec>> create_codec(VAProfile profile, const DecoderCapabilities& device, uint32_t width,
                                            uint32_t height, Log& log);

}  // namespace v4l2va
