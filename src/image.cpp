// VA images: NV12 (and I420/YV12 by conversion) read back from the CAPTURE
// buffer behind a surface, or a zero-copy view of it (vaDeriveImage).
#include <algorithm>
#include <cstring>

#include "surface.h"
#include "v4l2/picture_layout.h"

namespace v4l2va {

const std::vector<VAImageFormat>& supported_image_formats() {
  static const std::vector<VAImageFormat> formats = {
      {VA_FOURCC_NV12, VA_LSB_FIRST, 12, 0, 0, 0, 0, 0, {}},
      {VA_FOURCC_I420, VA_LSB_FIRST, 12, 0, 0, 0, 0, 0, {}},
      {VA_FOURCC_YV12, VA_LSB_FIRST, 12, 0, 0, 0, 0, 0, {}},
  };
  return formats;
}

namespace {

// Plane layout of a packed image of the given format; NV12 planes may be
// padded to whole macroblocks (`align` 16), see derive_copy().
void layout_image(VAImage& image, uint32_t fourcc, uint32_t w, uint32_t h, uint32_t align = 1) {
  const uint32_t cw = (w + 1) / 2, ch = (h + 1) / 2;
  image.width = static_cast<uint16_t>(w);
  image.height = static_cast<uint16_t>(h);
  image.pitches[0] = w;
  image.offsets[0] = 0;
  if (fourcc == VA_FOURCC_NV12) {
    const uint32_t pitch = (w + align - 1) / align * align, rows = (h + align - 1) / align * align;
    image.num_planes = 2;
    image.pitches[0] = image.pitches[1] = pitch;
    image.offsets[1] = pitch * rows;
    image.data_size = pitch * rows + pitch * (rows / 2 > ch ? rows / 2 : ch);
  } else {
    image.num_planes = 3;
    image.pitches[1] = image.pitches[2] = cw;
    image.offsets[1] = w * h;
    image.offsets[2] = w * h + cw * ch;
    image.data_size = w * h + 2 * cw * ch;
  }
}

// Copies a rectangle of the surface's picture, in whatever layout the device
// wrote it, into an image of any of the supported formats: each byte is read
// once and written once (through a line buffer only to split chroma).
void copy_rectangle(const PictureLayout& src, uint32_t x, uint32_t y, uint32_t width, uint32_t height,
                    const VAImage& img, uint8_t* dst) {
  for (uint32_t row = 0; row < height; ++row)
    read_plane_line(src.luma, x, y + row, width, dst + img.offsets[0] + size_t(row) * img.pitches[0]);
  const uint32_t cw = (width + 1) / 2, ch = (height + 1) / 2;
  std::vector<uint8_t> line(img.format.fourcc == VA_FOURCC_NV12 ? 0 : size_t(cw) * 2);
  for (uint32_t row = 0; row < ch; ++row) {
    if (img.format.fourcc == VA_FOURCC_NV12) {
      read_plane_line(src.chroma, x, y / 2 + row, cw * 2, dst + img.offsets[1] + size_t(row) * img.pitches[1]);
      continue;
    }
    read_plane_line(src.chroma, x, y / 2 + row, cw * 2, line.data());
    // I420: U then V; YV12: V then U.
    const uint32_t u_plane = img.format.fourcc == VA_FOURCC_I420 ? 1 : 2;
    const uint32_t v_plane = 3 - u_plane;
    uint8_t* u = dst + img.offsets[u_plane] + size_t(row) * img.pitches[u_plane];
    uint8_t* v = dst + img.offsets[v_plane] + size_t(row) * img.pitches[v_plane];
    for (uint32_t c = 0; c < cw; ++c) {
      u[c] = line[2 * c];
      v[c] = line[2 * c + 1];
    }
  }
}

Result<PictureLayout> layout_of_surface(Driver& d, const Context& context, const Surface& surface) {
  Result<PictureLayout> layout = layout_of(context.capture_format(), context.capture(surface.capture).memory);
  if (!layout.ok())
    d.log.errorf("surface 0x%08x: its CAPTURE buffer does not hold a picture of the CAPTURE format", surface.id);
  return layout;
}

// A new image (and its buffer) whose memory comes from the driver's cache.
Result<std::shared_ptr<Image>> new_image(Driver& d, const VAImageFormat& format, uint32_t width, uint32_t height,
                                         uint32_t align = 1) {
  auto image = std::make_shared<Image>();
  image->image.format = format;
  layout_image(image->image, format.fourcc, width, height, align);
  auto buffer = std::make_shared<Buffer>();
  buffer->type = VAImageBufferType;
  buffer->element_size = image->image.data_size;
  buffer->num_elements = 1;
  buffer->block = d.image_blocks->take(image->image.data_size);
  buffer->recycle = d.image_blocks;
  image->image.buf = d.buffers.insert(buffer);
  if (image->image.buf == VA_INVALID_ID) return Failed{VA_STATUS_ERROR_ALLOCATION_FAILED};
  return image;
}

VAStatus publish(Driver& d, const std::shared_ptr<Image>& image, VAImage& out) {
  image->image.image_id = d.images.insert(image);
  if (image->image.image_id == VA_INVALID_ID) {
    d.buffers.remove(image->image.buf);
    return VA_STATUS_ERROR_ALLOCATION_FAILED;
  }
  out = image->image;
  return VA_STATUS_SUCCESS;
}

// A linear single-buffer NV12 CAPTURE buffer is the image itself.
VAStatus derive_view(Driver& d, Context& context, Surface& surface, VAImage& out) {
  const Format& f = context.capture_format();
  const CaptureBuffer& cb = context.capture(surface.capture);
  auto image = std::make_shared<Image>();
  VAImage& img = image->image;
  img.format = supported_image_formats()[0];
  img.width = static_cast<uint16_t>(surface.width);
  img.height = static_cast<uint16_t>(surface.height);
  img.num_planes = 2;
  img.pitches[0] = img.pitches[1] = f.planes[0].bytesperline;
  img.offsets[0] = 0;
  img.offsets[1] = f.planes[0].bytesperline * f.height;
  img.data_size = static_cast<uint32_t>(cb.memory.planes[0].size());
  auto buffer = std::make_shared<Buffer>();
  buffer->type = VAImageBufferType;
  buffer->element_size = img.data_size;
  buffer->num_elements = 1;
  buffer->external = cb.memory.planes[0].data();
  buffer->external_size = cb.memory.planes[0].size();
  buffer->external_owner = context.shared_from_this();
  img.buf = d.buffers.insert(buffer);
  if (img.buf == VA_INVALID_ID) return VA_STATUS_ERROR_ALLOCATION_FAILED;
  image->derived_from = surface.id;
  return publish(d, image, out);
}

// Any other layout (two buffers, tiled), or no CAPTURE buffer yet: the image
// is a linear copy of the picture as it is now; writes to it do not reach
// the surface. Its planes are padded to whole macroblocks, as the zero-copy
// view of a context's NV12 CAPTURE buffer is (hantro, rkvdec, cedrus round
// the coded size up to 16): GStreamer's VA allocator derives an image from a
// fresh surface once and keeps that layout for every surface of its pool
// (gstvaallocator.c _update_image_info), so the two must agree, or a
// picture whose height is not a multiple of 16 (VP8/VP9) reads its chroma
// from the wrong rows.
VAStatus derive_copy(Driver& d, const PictureLayout* source, Surface& surface, VAImage& out) {
  Result<std::shared_ptr<Image>> image =
      new_image(d, supported_image_formats()[0], surface.width, surface.height, 16);
  if (!image.ok()) return image.status();
  auto buffer = d.buffers.find((*image)->image.buf);
  const VAImage& img = (*image)->image;
  if (source) {
    copy_rectangle(*source, 0, 0, surface.width, surface.height, img, buffer->bytes());
  } else {
    // Nothing decoded and no memory yet: black.
    std::memset(buffer->bytes(), 16, img.offsets[1]);
    std::memset(buffer->bytes() + img.offsets[1], 128, img.data_size - img.offsets[1]);
  }
  (*image)->derived_from = surface.id;
  return publish(d, *image, out);
}

}  // namespace
}  // namespace v4l2va

namespace v4l2va::va {

VAStatus QueryImageFormats(VADriverContextP, VAImageFormat* formats, int* count) {
  if (!formats || !count) return VA_STATUS_ERROR_INVALID_PARAMETER;
  const auto& list = supported_image_formats();
  std::copy(list.begin(), list.end(), formats);
  *count = static_cast<int>(list.size());
  return VA_STATUS_SUCCESS;
}

VAStatus CreateImage(VADriverContextP ctx, VAImageFormat* format, int width, int height, VAImage* out) {
  Driver& d = driver_of(ctx);
  if (!format || !out) return VA_STATUS_ERROR_INVALID_PARAMETER;
  const auto& list = supported_image_formats();
  auto it = std::find_if(list.begin(), list.end(), [&](const VAImageFormat& f) { return f.fourcc == format->fourcc; });
  if (it == list.end()) {
    d.log.errorf("vaCreateImage: format 0x%08x not supported", format->fourcc);
    return VA_STATUS_ERROR_INVALID_IMAGE_FORMAT;
  }
  if (width <= 0 || height <= 0 || width > 16384 || height > 16384) return VA_STATUS_ERROR_INVALID_PARAMETER;
  // NV12 images have the macroblock-padded layout of derived ones (see
  // derive_copy): GStreamer's VA allocator takes the plane layout of its
  // whole pool from one vaCreateImage and maps derived images with it.
  Result<std::shared_ptr<Image>> image = new_image(d, *it, uint32_t(width), uint32_t(height), 16);
  if (!image.ok()) return image.status();
  return publish(d, *image, *out);
}

VAStatus DeriveImage(VADriverContextP ctx, VASurfaceID id, VAImage* out) {
  Driver& d = driver_of(ctx);
  if (!out) return VA_STATUS_ERROR_INVALID_PARAMETER;
  auto surface = d.surfaces.find(id);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  // ffmpeg probes vaDeriveImage on a fresh surface before its context exists
  // and maps directly only if the probe succeeds. A surface no context has
  // used has no memory yet: its image is a black copy of its size. (It is not
  // bound to some context for this: in a process with several decoders the
  // probe surface belongs to the context about to be created.)
  if (!bound_context(*surface)) {
    // Its context went away: a copy of the picture it kept.
    if (std::shared_ptr<const DetachedPicture> kept = detached_picture(*surface)) {
      Result<PictureLayout> layout = layout_of(kept->format, kept->memory);
      if (layout.ok()) return derive_copy(d, &*layout, *surface, *out);
    }
    return derive_copy(d, nullptr, *surface, *out);
  }
  return with_decoded_surface(d, *surface, VA_STATUS_ERROR_INVALID_SURFACE, [&](Context& context) -> VAStatus {
    const Format& f = context.capture_format();
    if (f.num_planes == 1 && f.pixelformat == V4L2_PIX_FMT_NV12) return derive_view(d, context, *surface, *out);
    Result<PictureLayout> layout = layout_of_surface(d, context, *surface);
    if (!layout.ok()) return layout.status();
    return derive_copy(d, &*layout, *surface, *out);
  });
}

VAStatus DestroyImage(VADriverContextP ctx, VAImageID id) {
  Driver& d = driver_of(ctx);
  auto image = d.images.remove(id);
  if (!image) return VA_STATUS_ERROR_INVALID_IMAGE;
  d.buffers.remove(image->image.buf);
  return VA_STATUS_SUCCESS;
}

VAStatus SetImagePalette(VADriverContextP, VAImageID, unsigned char*) { return VA_STATUS_ERROR_UNIMPLEMENTED; }

VAStatus GetImage(VADriverContextP ctx, VASurfaceID id, int x, int y, unsigned int width, unsigned int height,
                  VAImageID image_id) {
  Driver& d = driver_of(ctx);
  auto surface = d.surfaces.find(id);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  auto image = d.images.find(image_id);
  if (!image) return VA_STATUS_ERROR_INVALID_IMAGE;
  auto buffer = d.buffers.find(image->image.buf);
  if (!buffer) return VA_STATUS_ERROR_INVALID_BUFFER;
  const VAImage& img = image->image;
  if (x < 0 || y < 0 || (x & 1) || (y & 1) || width > img.width || height > img.height ||
      uint64_t(x) + width > surface->width || uint64_t(y) + height > surface->height ||
      buffer->size() < img.data_size) {
    d.log.errorf("vaGetImage: rectangle %ux%u at %d,%d does not fit surface 0x%08x (%ux%u) and image (%ux%u)", width,
                 height, x, y, id, surface->width, surface->height, img.width, img.height);
    return VA_STATUS_ERROR_INVALID_PARAMETER;
  }
  if (!bound_context(*surface)) {
    std::shared_ptr<const DetachedPicture> kept = detached_picture(*surface);
    if (!kept) return VA_STATUS_ERROR_INVALID_SURFACE;  // nothing was ever decoded into it
    Result<PictureLayout> layout = layout_of(kept->format, kept->memory);
    if (!layout.ok()) return layout.status();
    copy_rectangle(*layout, uint32_t(x), uint32_t(y), width, height, img, buffer->bytes());
    return VA_STATUS_SUCCESS;
  }
  return with_decoded_surface(d, *surface, VA_STATUS_ERROR_INVALID_SURFACE, [&](Context& context) -> VAStatus {
    Result<PictureLayout> layout = layout_of_surface(d, context, *surface);
    if (!layout.ok()) return layout.status();
    copy_rectangle(*layout, uint32_t(x), uint32_t(y), width, height, img, buffer->bytes());
    return VA_STATUS_SUCCESS;  // a damaged picture is reported by vaSyncSurface / vaQuerySurfaceError
  });
}

VAStatus PutImage(VADriverContextP ctx, VASurfaceID, VAImageID, int, int, unsigned int, unsigned int, int, int,
                  unsigned int, unsigned int) {
  driver_of(ctx).log.errorf("vaPutImage is not supported: decoded surfaces are written by the device only");
  return VA_STATUS_ERROR_UNIMPLEMENTED;
}

}  // namespace v4l2va::va
