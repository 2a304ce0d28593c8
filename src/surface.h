#pragma once

#include <functional>
#include <memory>

#include "context.h"

namespace v4l2va {

// The context a surface is bound to, if any.
std::shared_ptr<Context> bound_context(Surface& surface);

// The picture a surface kept from a context that went away, if any.
std::shared_ptr<const DetachedPicture> detached_picture(Surface& surface);

// Runs `fn` with the surface's context locked, after draining the surface's
// picture (bounded; `client_wait_ms` >= 0 is the client's own bound).
// Returns `unbound` when the surface has no CAPTURE buffer.
VAStatus with_decoded_surface(Driver& d, Surface& surface, VAStatus unbound,
                              const std::function<VAStatus(Context&)>& fn, int client_wait_ms = -1);

// Binds a surface no context has used yet to the newest context whose
// CAPTURE buffers can hold it (early export, DeriveImage before the first
// decode). Returns that context, or null when there is none.
std::shared_ptr<Context> bind_to_newest_context(Driver& d, const std::shared_ptr<Surface>& surface);

}  // namespace v4l2va
