#include "codecs.h"

#include <algorithm>

#include "h264/decoder.h"
#include "vp8/decoder.h"

namespace v4l2va {

Result<std::unique_ptr<Codec>> create_codec(VAProfile profile, const DecoderCapabilities& device, uint32_t width,
                                            uint32_t height, Log& log) {
  CodecKind kind;
  if (!codec_of_profile(profile, kind) || !device.offers(profile)) {
    log.errorf("%s (%s) does not decode VA profile %d", device.video_path.c_str(), device.driver_name.c_str(),
               profile);
    return Failed{VA_STATUS_ERROR_UNSUPPORTED_PROFILE};
  }
  switch (kind) {
    case CodecKind::H264: {
      Result<h264::DecodeModes> modes = h264::choose_decode_modes(device, log);
      if (!modes.ok()) return Failed{modes.status()};
      // At most one slice per macroblock (7.4.3), for a frame or its two fields.
      const uint32_t macroblocks = ((width + 15) / 16) * ((height + 15) / 16);
      return std::unique_ptr<Codec>(
          std::make_unique<h264::H264Codec>(profile, device, *modes, std::max(1u, macroblocks) * 2, log));
    }
    case CodecKind::VP8:
      return std::unique_ptr<Codec>(std::make_unique<vp8::Vp8Codec>(log));
    case CodecKind::VP9:
      break;
  }
  log.errorf("%s: no codec for VA profile %d in this build", device.video_path.c_str(), profile);
  return Failed{VA_STATUS_ERROR_UNSUPPORTED_PROFILE};
}

}  // namespace v4l2va
