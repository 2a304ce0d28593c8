#pragma once

#include <functional>
#include <memory>

#include "context.h"

namespace v4l2va {

// Runs `fn` with the surface's context locked, after draining the surface's
// picture (bounded). Returns `unbound` when the surface has no CAPTURE buffer.
VAStatus with_decoded_surface(Driver& d, Surface& surface, VAStatus unbound,
                              const std::function<VAStatus(Context&)>& fn);

}  // namespace v4l2va
