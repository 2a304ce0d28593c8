// VA surfaces: creation with attribute lists, sync and status, errors, and
// DRM PRIME export of the CAPTURE buffer behind a surface.
#include "surface.h"

#include <drm_fourcc.h>
#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "discovery/discovery.h"

namespace v4l2va {

VAStatus with_decoded_surface(Driver& d, Surface& surface, VAStatus unbound,
                              const std::function<VAStatus(Context&)>& fn) {
  std::shared_ptr<Context> context;
  {
    std::lock_guard binding(surface.binding_mutex);
    if (surface.bound) context = surface.context.lock();
  }
  if (!context) return unbound;
  std::lock_guard lock(context->mutex);
  {
    std::lock_guard binding(surface.binding_mutex);
    if (!surface.bound || surface.context.lock() != context) return unbound;
  }
  if (VAStatus st = context->drain_surface(surface); st != VA_STATUS_SUCCESS) {
    d.log.errorf("surface 0x%08x: waiting for its picture failed", surface.id);
    return st;
  }
  return fn(*context);
}

}  // namespace v4l2va

namespace v4l2va::va {

VAStatus CreateSurfaces2(VADriverContextP ctx, unsigned int format, unsigned int width, unsigned int height,
                         VASurfaceID* surfaces, unsigned int count, VASurfaceAttrib* attribs,
                         unsigned int num_attribs) {
  Driver& d = driver_of(ctx);
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
    surfaces[i] = d.surfaces.insert(s);
    s->id = surfaces[i];
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
  VAStatus result = VA_STATUS_SUCCESS;
  for (int i = 0; i < count; ++i) {
    auto surface = d.surfaces.find(ids[i]);
    if (!surface) {
      result = VA_STATUS_ERROR_INVALID_SURFACE;
      continue;
    }
    std::shared_ptr<Context> context;
    {
      std::lock_guard binding(surface->binding_mutex);
      if (surface->bound) context = surface->context.lock();
    }
    if (context) {
      // Its CAPTURE buffer goes back to the context for the next surface,
      // after the picture in flight into it has drained.
      std::lock_guard lock(context->mutex);
      context->unbind_surface(*surface);
    }
    d.surfaces.remove(ids[i]);
  }
  return result;
}

VAStatus SyncSurface(VADriverContextP ctx, VASurfaceID id) {
  Driver& d = driver_of(ctx);
  auto surface = d.surfaces.find(id);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  return with_decoded_surface(d, *surface, VA_STATUS_SUCCESS, [&](Context&) { return surface->decode_status; });
}

VAStatus SyncSurface2(VADriverContextP ctx, VASurfaceID id, uint64_t /*timeout_ns*/) {
  // The wait is bounded by the driver's own timeout whatever the client asks.
  return SyncSurface(ctx, id);
}

VAStatus QuerySurfaceStatus(VADriverContextP ctx, VASurfaceID id, VASurfaceStatus* status) {
  Driver& d = driver_of(ctx);
  auto surface = d.surfaces.find(id);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  VAStatus st = with_decoded_surface(d, *surface, VA_STATUS_SUCCESS, [](Context&) { return VA_STATUS_SUCCESS; });
  *status = VASurfaceReady;
  return st;
}

VAStatus QuerySurfaceError(VADriverContextP ctx, VASurfaceID id, VAStatus error_status, void** error_info) {
  Driver& d = driver_of(ctx);
  auto surface = d.surfaces.find(id);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  if (error_status != VA_STATUS_ERROR_DECODING_ERROR) return VA_STATUS_ERROR_UNIMPLEMENTED;
  // V4L2 reports a whole-picture error (V4L2_BUF_FLAG_ERROR), not per
  // macroblock: report every macroblock of the picture as in error.
  std::shared_ptr<Context> context;
  {
    std::lock_guard binding(surface->binding_mutex);
    if (surface->bound) context = surface->context.lock();
  }
  std::unique_lock<std::mutex> lock;
  if (context) lock = std::unique_lock(context->mutex);
  std::memset(surface->mb_errors, 0, sizeof(surface->mb_errors));
  if (surface->decode_status == VA_STATUS_ERROR_DECODING_ERROR) {
    uint32_t mbs = ((surface->width + 15) / 16) * ((surface->height + 15) / 16);
    surface->mb_errors[0].status = 1;
    surface->mb_errors[0].start_mb = 0;
    surface->mb_errors[0].end_mb = mbs ? mbs - 1 : 0;
    surface->mb_errors[0].decode_error_type = VADecodeMBError;
    surface->mb_errors[0].num_mb = mbs;
  }
  surface->mb_errors[1].status = -1;  // terminates the list
  *error_info = surface->mb_errors;
  return VA_STATUS_SUCCESS;
}

VAStatus QuerySurfaceAttributes(VADriverContextP ctx, VAConfigID config_id, VASurfaceAttrib* attribs,
                                unsigned int* count) {
  Driver& d = driver_of(ctx);
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

VAStatus ExportSurfaceHandle(VADriverContextP ctx, VASurfaceID id, uint32_t mem_type, uint32_t flags,
                             void* descriptor) {
  Driver& d = driver_of(ctx);
  auto surface = d.surfaces.find(id);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  if (mem_type != VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2) {
    d.log.errorf("vaExportSurfaceHandle: memory type 0x%x not supported (DRM_PRIME_2 only)", mem_type);
    return VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE;
  }
  auto* desc = static_cast<VADRMPRIMESurfaceDescriptor*>(descriptor);
  return with_decoded_surface(d, *surface, VA_STATUS_ERROR_INVALID_SURFACE, [&](Context& context) -> VAStatus {
    const Format& f = context.capture_format();
    int fd_flags = O_CLOEXEC | ((flags & VA_EXPORT_SURFACE_WRITE_ONLY) || (flags & VA_EXPORT_SURFACE_READ_WRITE)
                                    ? O_RDWR
                                    : O_RDONLY);
    // One dma-buf per memory plane: NV12 has one, NV12M two.
    UniqueFd fds[2];
    for (uint32_t p = 0; p < f.num_planes && p < 2; ++p)
      if (VAStatus st = context.export_capture(surface->capture, p, fd_flags, fds[p]); st != VA_STATUS_SUCCESS)
        return st;
    *desc = VADRMPRIMESurfaceDescriptor{};
    desc->fourcc = VA_FOURCC_NV12;
    desc->width = surface->width;
    desc->height = surface->height;
    desc->num_objects = f.num_planes;
    const CaptureBuffer& cb = context.capture(surface->capture);
    for (uint32_t p = 0; p < f.num_planes; ++p) {
      desc->objects[p].size = static_cast<uint32_t>(cb.memory.planes[p].size());
      desc->objects[p].drm_format_modifier = DRM_FORMAT_MOD_LINEAR;
    }
    // Pitches come from the CAPTURE format (bytesperline), not the width.
    uint32_t pitch = f.planes[0].bytesperline;
    uint32_t uv_object = f.num_planes > 1 ? 1 : 0;
    uint32_t uv_offset = f.num_planes > 1 ? 0 : pitch * f.height;
    uint32_t uv_pitch = f.num_planes > 1 ? f.planes[1].bytesperline : pitch;
    if (flags & VA_EXPORT_SURFACE_SEPARATE_LAYERS) {
      desc->num_layers = 2;
      desc->layers[0] = {DRM_FORMAT_R8, 1, {0}, {0}, {pitch}};
      desc->layers[1] = {DRM_FORMAT_GR88, 1, {uv_object}, {uv_offset}, {uv_pitch}};
    } else {
      desc->num_layers = 1;
      desc->layers[0].drm_format = DRM_FORMAT_NV12;
      desc->layers[0].num_planes = 2;
      desc->layers[0].object_index[0] = 0;
      desc->layers[0].offset[0] = 0;
      desc->layers[0].pitch[0] = pitch;
      desc->layers[0].object_index[1] = uv_object;
      desc->layers[0].offset[1] = uv_offset;
      desc->layers[0].pitch[1] = uv_pitch;
    }
    for (uint32_t p = 0; p < f.num_planes; ++p) desc->objects[p].fd = fds[p].release();
    return VA_STATUS_SUCCESS;
  });
}

}  // namespace v4l2va::va
