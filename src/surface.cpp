// VA surfaces: creation with attribute lists, sync and status, errors, and
// DRM PRIME export of the CAPTURE buffer behind a surface.
#include "surface.h"

#include <drm_fourcc.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "discovery/discovery.h"

namespace v4l2va {
namespace {

// What vaSyncSurface reports for a surface whose picture is done
// (docs/design.md, "Damaged streams"): success unless the client asked for
// errors, so that players go on; the damage is logged and stays queryable
// through vaQuerySurfaceError.
VAStatus sync_status(const Driver& d, const Surface& surface, bool device_gone) {
  switch (surface.picture) {
    case Surface::Picture::None:
    case Surface::Picture::InFlight:
    case Surface::Picture::Decoded:
      return VA_STATUS_SUCCESS;
    case Surface::Picture::Damaged:
      return d.sync_reports_errors ? VA_STATUS_ERROR_DECODING_ERROR : VA_STATUS_SUCCESS;
    case Surface::Picture::Lost:
      if (device_gone) return VA_STATUS_ERROR_OPERATION_FAILED;
      return d.sync_reports_errors ? VA_STATUS_ERROR_DECODING_ERROR : VA_STATUS_SUCCESS;
  }
  return VA_STATUS_SUCCESS;
}

// A timeout in ns as the wait in ms the slot pool takes; VA_TIMEOUT_INFINITE
// (and anything beyond int's range) is the pool's own bound only.
int client_wait_ms(uint64_t timeout_ns) {
  if (timeout_ns == VA_TIMEOUT_INFINITE) return -1;
  const uint64_t ms = (timeout_ns + 999999) / 1000000;
  return ms > uint64_t{1} << 30 ? -1 : static_cast<int>(ms);
}

}  // namespace

std::shared_ptr<Context> bound_context(Surface& surface) {
  std::lock_guard binding(surface.binding_mutex);
  return surface.bound ? surface.context.lock() : nullptr;
}

std::shared_ptr<const DetachedPicture> detached_picture(Surface& surface) {
  std::lock_guard binding(surface.binding_mutex);
  return surface.bound ? nullptr : surface.detached;
}

VAStatus with_decoded_surface(Driver& d, Surface& surface, VAStatus unbound,
                              const std::function<VAStatus(Context&)>& fn, int wait_ms) {
  std::shared_ptr<Context> context = bound_context(surface);
  if (!context) return unbound;
  std::lock_guard lock(context->mutex);
  if (bound_context(surface) != context) return unbound;
  if (VAStatus st = context->drain_surface(surface, wait_ms); st != VA_STATUS_SUCCESS) {
    if (st != VA_STATUS_ERROR_TIMEDOUT || wait_ms < 0)
      d.log.errorf("surface 0x%08x: waiting for its picture failed: %s", surface.id, vaErrorStr(st));
    return st;
  }
  return fn(*context);
}

std::shared_ptr<Context> bind_to_newest_context(Driver& d, const std::shared_ptr<Surface>& surface) {
  std::vector<std::shared_ptr<Context>> contexts = d.contexts.all();
  std::sort(contexts.begin(), contexts.end(),
            [](const auto& a, const auto& b) { return a->serial > b->serial; });
  for (const std::shared_ptr<Context>& context : contexts) {
    std::lock_guard lock(context->mutex);
    if (bound_context(*surface)) return bound_context(*surface);  // someone bound it meanwhile
    const Format& f = context->capture_format();
    if (surface->width > f.width || surface->height > f.height) continue;
    if (context->bind_surface(surface) == VA_STATUS_SUCCESS) return context;
  }
  return nullptr;
}

}  // namespace v4l2va

namespace v4l2va::va {

VAStatus CreateSurfaces2(VADriverContextP ctx, unsigned int format, unsigned int width, unsigned int height,
                         VASurfaceID* surfaces, unsigned int count, VASurfaceAttrib* attribs,
                         unsigned int num_attribs) {
  Driver& d = driver_of(ctx);
  if ((count > 0 && !surfaces) || (num_attribs > 0 && !attribs)) {
    d.log.errorf("vaCreateSurfaces: NULL surface list or attribute list");
    return VA_STATUS_ERROR_INVALID_PARAMETER;
  }
  if (format != VA_RT_FORMAT_YUV420) {
    d.log.errorf("vaCreateSurfaces: RT format 0x%x not supported (YUV420 only)", format);
    return VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT;
  }
  if (width == 0 || height == 0 || width > d.max_width || height > d.max_height) {
    d.log.errorf("vaCreateSurfaces: %ux%u outside the decoders' 1x1..%ux%u", width, height, d.max_width,
                 d.max_height);
    return VA_STATUS_ERROR_RESOLUTION_NOT_SUPPORTED;
  }
  for (unsigned int i = 0; i < num_attribs; ++i) {
    const VASurfaceAttrib& a = attribs[i];
    // Clients pass entries with flags 0 (ffmpeg's PixelFormat with type 0):
    // only settable entries constrain the surface.
    if (!(a.flags & VA_SURFACE_ATTRIB_SETTABLE)) continue;
    if (a.type == VASurfaceAttribPixelFormat && a.value.type == VAGenericValueTypeInteger &&
        static_cast<uint32_t>(a.value.value.i) != VA_FOURCC_NV12) {
      d.log.errorf("vaCreateSurfaces: pixel format 0x%08x not supported (NV12 only)", a.value.value.i);
      return VA_STATUS_ERROR_INVALID_PARAMETER;
    }
    if (a.type == VASurfaceAttribMemoryType && a.value.type == VAGenericValueTypeInteger) {
      uint32_t mem = static_cast<uint32_t>(a.value.value.i);
      if (mem != VA_SURFACE_ATTRIB_MEM_TYPE_VA && mem != VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2) {
        d.log.errorf("vaCreateSurfaces: memory type 0x%x not supported (import is not)", mem);
        return VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE;
      }
    }
    if (a.type == VASurfaceAttribExternalBufferDescriptor) {
      d.log.errorf("vaCreateSurfaces: importing external buffers is not supported");
      return VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE;
    }
  }
  for (unsigned int i = 0; i < count; ++i) {
    auto s = std::make_shared<Surface>();
    s->width = width;
    s->height = height;
    s->rt_format = format;
    const VASurfaceID id = d.surfaces.insert(s);
    if (id == VA_INVALID_ID) {
      d.log.errorf("vaCreateSurfaces: no free surface ID");
      for (unsigned int j = 0; j < i; ++j) d.surfaces.remove(surfaces[j]);
      return VA_STATUS_ERROR_ALLOCATION_FAILED;
    }
    s->id = id;
    surfaces[i] = id;
  }
  return VA_STATUS_SUCCESS;
}

VAStatus CreateSurfaces(VADriverContextP ctx, int width, int height, int format, int count, VASurfaceID* surfaces) {
  if (width <= 0 || height <= 0 || count < 0) return VA_STATUS_ERROR_INVALID_PARAMETER;
  return CreateSurfaces2(ctx, static_cast<unsigned>(format), static_cast<unsigned>(width),
                         static_cast<unsigned>(height), surfaces, static_cast<unsigned>(count), nullptr, 0);
}

VAStatus DestroySurfaces(VADriverContextP ctx, VASurfaceID* ids, int count) {
  Driver& d = driver_of(ctx);
  if (count < 0 || (count > 0 && !ids)) return VA_STATUS_ERROR_INVALID_PARAMETER;
  VAStatus result = VA_STATUS_SUCCESS;
  for (int i = 0; i < count; ++i) {
    auto surface = d.surfaces.find(ids[i]);
    if (!surface) {
      result = VA_STATUS_ERROR_INVALID_SURFACE;
      continue;
    }
    if (std::shared_ptr<Context> context = bound_context(*surface)) {
      // Its CAPTURE buffer goes back to the context for the next surface,
      // after the picture in flight into it has drained.
      std::lock_guard lock(context->mutex);
      context->unbind_surface(*surface);
    }
    d.surfaces.remove(ids[i]);
  }
  return result;
}

VAStatus SyncSurface2(VADriverContextP ctx, VASurfaceID id, uint64_t timeout_ns) {
  Driver& d = driver_of(ctx);
  auto surface = d.surfaces.find(id);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  return with_decoded_surface(
      d, *surface, VA_STATUS_SUCCESS,
      [&](Context& context) { return sync_status(d, *surface, context.device_gone()); }, client_wait_ms(timeout_ns));
}

VAStatus SyncSurface(VADriverContextP ctx, VASurfaceID id) { return SyncSurface2(ctx, id, VA_TIMEOUT_INFINITE); }

VAStatus QuerySurfaceStatus(VADriverContextP ctx, VASurfaceID id, VASurfaceStatus* status) {
  Driver& d = driver_of(ctx);
  if (!status) return VA_STATUS_ERROR_INVALID_PARAMETER;
  auto surface = d.surfaces.find(id);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  *status = VASurfaceReady;
  std::shared_ptr<Context> context = bound_context(*surface);
  if (!context) return VA_STATUS_SUCCESS;
  // Never waits: takes in what the device has finished, then tells.
  std::lock_guard lock(context->mutex);
  context->collect_completed();
  if (surface->sequence != 0 && !context->pool().completed(surface->sequence)) *status = VASurfaceRendering;
  return VA_STATUS_SUCCESS;
}

VAStatus QuerySurfaceError(VADriverContextP ctx, VASurfaceID id, VAStatus error_status, void** error_info) {
  Driver& d = driver_of(ctx);
  if (!error_info) return VA_STATUS_ERROR_INVALID_PARAMETER;
  auto surface = d.surfaces.find(id);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  if (error_status != VA_STATUS_ERROR_DECODING_ERROR) return VA_STATUS_ERROR_UNIMPLEMENTED;
  // V4L2 reports a whole-picture error (V4L2_BUF_FLAG_ERROR), not per
  // macroblock: a damaged or lost picture has every macroblock in error.
  std::shared_ptr<Context> context = bound_context(*surface);
  std::unique_lock<std::mutex> lock;
  if (context) lock = std::unique_lock(context->mutex);
  std::memset(surface->mb_errors, 0, sizeof(surface->mb_errors));
  VASurfaceDecodeMBErrors* next = surface->mb_errors;
  if (surface->picture == Surface::Picture::Damaged || surface->picture == Surface::Picture::Lost) {
    const uint32_t mbs = ((surface->width + 15) / 16) * ((surface->height + 15) / 16);
    next->status = 1;
    next->start_mb = 0;
    next->end_mb = mbs ? mbs - 1 : 0;
    next->decode_error_type = VADecodeMBError;
    next->num_mb = mbs;
    ++next;
  }
  next->status = -1;  // terminates the list
  *error_info = surface->mb_errors;
  return VA_STATUS_SUCCESS;
}

VAStatus QuerySurfaceAttributes(VADriverContextP ctx, VAConfigID config_id, VASurfaceAttrib* attribs,
                                unsigned int* count) {
  Driver& d = driver_of(ctx);
  if (!count) return VA_STATUS_ERROR_INVALID_PARAMETER;
  auto config = d.configs.find(config_id);
  if (!config) return VA_STATUS_ERROR_INVALID_CONFIG;
  const PictureSize max = max_picture_size(d.decoders, config->profile);
  uint32_t min_w = max.width, min_h = max.height;
  for (const auto& decoder : d.decoders) {
    min_w = std::min(min_w, decoder.min_width);
    min_h = std::min(min_h, decoder.min_height);
  }
  VASurfaceAttrib list[6]{};
  unsigned int n = 0;
  auto add = [&](VASurfaceAttribType type, uint32_t flags, int value) {
    list[n].type = type;
    list[n].flags = flags;
    list[n].value.type = VAGenericValueTypeInteger;
    list[n].value.value.i = value;
    ++n;
  };
  add(VASurfaceAttribPixelFormat, VA_SURFACE_ATTRIB_GETTABLE | VA_SURFACE_ATTRIB_SETTABLE,
      static_cast<int>(VA_FOURCC_NV12));
  add(VASurfaceAttribMinWidth, VA_SURFACE_ATTRIB_GETTABLE, static_cast<int>(min_w));
  add(VASurfaceAttribMinHeight, VA_SURFACE_ATTRIB_GETTABLE, static_cast<int>(min_h));
  add(VASurfaceAttribMaxWidth, VA_SURFACE_ATTRIB_GETTABLE, static_cast<int>(max.width));
  add(VASurfaceAttribMaxHeight, VA_SURFACE_ATTRIB_GETTABLE, static_cast<int>(max.height));
  add(VASurfaceAttribMemoryType, VA_SURFACE_ATTRIB_GETTABLE | VA_SURFACE_ATTRIB_SETTABLE,
      VA_SURFACE_ATTRIB_MEM_TYPE_VA | VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2);
  if (!attribs) {
    *count = n;
    return VA_STATUS_SUCCESS;
  }
  if (*count < n) {
    *count = n;
    return VA_STATUS_ERROR_MAX_NUM_EXCEEDED;
  }
  std::memcpy(attribs, list, sizeof(VASurfaceAttrib) * n);
  *count = n;
  return VA_STATUS_SUCCESS;
}

namespace {

// The DRM format modifier of a CAPTURE layout, if the kernel's drm_fourcc.h
// has one: linear, or DRM_FORMAT_MOD_ALLWINNER_TILED for NV12_32L32. MM21
// has none in 6.12, so no importer could read it right.
std::optional<uint64_t> drm_modifier_of(uint32_t pixelformat) {
  switch (pixelformat) {
    case V4L2_PIX_FMT_NV12:
    case V4L2_PIX_FMT_NV12M:
      return DRM_FORMAT_MOD_LINEAR;
    case V4L2_PIX_FMT_NV12_32L32:
      return DRM_FORMAT_MOD_ALLWINNER_TILED;
    default:
      return std::nullopt;
  }
}

// The DRM PRIME description of an NV12-family CAPTURE buffer: one dma-buf
// per memory plane (NV12 one, NV12M two), pitches from the CAPTURE format,
// the layout's modifier on each object.
// Fills `desc` for an NV12-family buffer of format `f` whose memory planes
// are `fds` (taken by the descriptor) of `sizes` bytes.
VAStatus describe_export(Driver& d, const Format& f, Surface& surface, uint32_t flags, UniqueFd (&fds)[2],
                         const size_t (&sizes)[2], VADRMPRIMESurfaceDescriptor& desc) {
  const std::optional<uint64_t> modifier = drm_modifier_of(f.pixelformat);
  if (!modifier) {
    const char text[5] = {char(f.pixelformat & 0xff), char((f.pixelformat >> 8) & 0xff),
                          char((f.pixelformat >> 16) & 0xff), char(f.pixelformat >> 24), 0};
    d.log.errorf("vaExportSurfaceHandle: surface 0x%08x is in the device's %s layout, which has no DRM format "
                 "modifier; read it with vaGetImage or vaDeriveImage instead",
                 surface.id, text);
    return VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE;
  }
  const uint32_t objects = std::min<uint32_t>(f.num_planes, 2);
  desc = VADRMPRIMESurfaceDescriptor{};
  desc.fourcc = VA_FOURCC_NV12;
  desc.width = surface.width;
  desc.height = surface.height;
  desc.num_objects = objects;
  for (uint32_t p = 0; p < objects; ++p) {
    desc.objects[p].size = static_cast<uint32_t>(sizes[p]);
    desc.objects[p].drm_format_modifier = *modifier;
  }
  // The chroma plane follows `height` luma lines (whole rows of 32-line
  // tiles for NV12_32L32, whose height the device aligned to 32).
  const uint32_t pitch = f.planes[0].bytesperline;
  const uint32_t uv_object = objects > 1 ? 1 : 0;
  const uint32_t uv_offset = objects > 1 ? 0 : pitch * f.height;
  const uint32_t uv_pitch = objects > 1 ? f.planes[1].bytesperline : pitch;
  if (flags & VA_EXPORT_SURFACE_SEPARATE_LAYERS) {
    desc.num_layers = 2;
    desc.layers[0] = {DRM_FORMAT_R8, 1, {0}, {0}, {pitch}};
    desc.layers[1] = {DRM_FORMAT_GR88, 1, {uv_object}, {uv_offset}, {uv_pitch}};
  } else {
    desc.num_layers = 1;
    desc.layers[0].drm_format = DRM_FORMAT_NV12;
    desc.layers[0].num_planes = 2;
    desc.layers[0].object_index[0] = 0;
    desc.layers[0].offset[0] = 0;
    desc.layers[0].pitch[0] = pitch;
    desc.layers[0].object_index[1] = uv_object;
    desc.layers[0].offset[1] = uv_offset;
    desc.layers[0].pitch[1] = uv_pitch;
  }
  for (uint32_t p = 0; p < objects; ++p) desc.objects[p].fd = fds[p].release();
  return VA_STATUS_SUCCESS;
}

int export_fd_flags(uint32_t flags) {
  return O_CLOEXEC |
         ((flags & VA_EXPORT_SURFACE_WRITE_ONLY) || (flags & VA_EXPORT_SURFACE_READ_WRITE) ? O_RDWR : O_RDONLY);
}

// A bound surface: VIDIOC_EXPBUF of its CAPTURE buffer's planes.
VAStatus export_bound(Driver& d, Context& context, Surface& surface, uint32_t flags,
                      VADRMPRIMESurfaceDescriptor& desc) {
  const Format& f = context.capture_format();
  if (!drm_modifier_of(f.pixelformat)) {
    UniqueFd none[2];
    return describe_export(d, f, surface, flags, none, {0, 0}, desc);
  }
  UniqueFd fds[2];
  size_t sizes[2] = {0, 0};
  const CaptureBuffer& cb = context.capture(surface.capture);
  for (uint32_t p = 0; p < std::min<uint32_t>(f.num_planes, 2); ++p) {
    if (VAStatus st = context.export_capture(surface.capture, p, export_fd_flags(flags), fds[p]);
        st != VA_STATUS_SUCCESS)
      return st;
    sizes[p] = cb.memory.planes[p].size();
  }
  return describe_export(d, f, surface, flags, fds, sizes, desc);
}

// A surface whose context went away: new fds for the dma-bufs it kept.
VAStatus export_detached(Driver& d, const DetachedPicture& picture, Surface& surface, uint32_t flags,
                         VADRMPRIMESurfaceDescriptor& desc) {
  UniqueFd fds[2];
  size_t sizes[2] = {0, 0};
  for (uint32_t p = 0; p < std::min<uint32_t>(picture.format.num_planes, 2); ++p) {
    fds[p].reset(::fcntl(picture.dmabufs[p].get(), F_DUPFD_CLOEXEC, 0));
    if (!fds[p].valid()) {
      d.log.errorf("vaExportSurfaceHandle: surface 0x%08x: duplicating its kept dma-buf failed: %s", surface.id,
                   std::strerror(errno));
      return VA_STATUS_ERROR_ALLOCATION_FAILED;
    }
    sizes[p] = picture.memory.planes[p].size();
  }
  return describe_export(d, picture.format, surface, flags, fds, sizes, desc);
}

// The staging context (Driver::staging), made or grown to hold `surface`.
std::shared_ptr<Context> staging_for(Driver& d, const Surface& surface) {
  std::lock_guard lock(d.staging_mutex);
  if (d.staging) {
    const Format& f = d.staging->capture_format();
    if (surface.width <= f.width && surface.height <= f.height) return d.staging;
  }
  const DecoderCapabilities* decoder = nullptr;
  for (const auto& candidate : d.decoders)
    if (!candidate.profiles().empty() && surface.width <= candidate.max_width &&
        surface.height <= candidate.max_height)
      decoder = &candidate;
  if (!decoder) return nullptr;
  Config config;
  config.profile = decoder->profiles().back();
  const uint32_t width = std::max(surface.width, d.staging ? d.staging->width : 0u);
  const uint32_t height = std::max(surface.height, d.staging ? d.staging->height : 0u);
  auto staging = std::make_shared<Context>(d, config, *decoder, width, height, /*staging=*/true);
  {
    std::lock_guard context_lock(staging->mutex);
    if (staging->open({}) != VA_STATUS_SUCCESS) return nullptr;
  }
  d.log.infof("staging context %ux%u on %s for surfaces exported before a context can hold them", width, height,
              decoder->video_path.c_str());
  d.staging = staging;  // a smaller one before goes when its surfaces do
  return staging;
}

bool bind_to_staging(Driver& d, const std::shared_ptr<Surface>& surface) {
  std::shared_ptr<Context> staging = staging_for(d, *surface);
  if (!staging) return false;
  std::lock_guard lock(staging->mutex);
  return staging->bind_surface(surface) == VA_STATUS_SUCCESS;
}

}  // namespace

VAStatus ExportSurfaceHandle(VADriverContextP ctx, VASurfaceID id, uint32_t mem_type, uint32_t flags,
                             void* descriptor) {
  Driver& d = driver_of(ctx);
  if (!descriptor) return VA_STATUS_ERROR_INVALID_PARAMETER;
  auto surface = d.surfaces.find(id);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  if (mem_type != VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2) {
    d.log.errorf("vaExportSurfaceHandle: memory type 0x%x not supported (DRM_PRIME_2 only)", mem_type);
    return VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE;
  }
  auto* desc = static_cast<VADRMPRIMESurfaceDescriptor*>(descriptor);
  if (!bound_context(*surface)) {
    // Its context went away: the picture it kept.
    if (std::shared_ptr<const DetachedPicture> kept = detached_picture(*surface))
      return export_detached(d, *kept, *surface, flags, *desc);
    // Early export (Chromium sets up its GPU import before decoding): a
    // surface no context has used yet gets its CAPTURE buffer now, from the
    // newest context that can hold it, so the dma-buf is the one its decodes
    // will write; before any context exists (mpv's format probe), from the
    // driver's staging context.
    if (!bind_to_newest_context(d, surface) && !bind_to_staging(d, surface)) {
      d.log.errorf("vaExportSurfaceHandle: surface 0x%08x has no memory yet and no decoder can hold it", id);
      return VA_STATUS_ERROR_INVALID_SURFACE;
    }
  }
  return with_decoded_surface(d, *surface, VA_STATUS_ERROR_INVALID_SURFACE,
                              [&](Context& context) { return export_bound(d, context, *surface, flags, *desc); });
}

}  // namespace v4l2va::va
