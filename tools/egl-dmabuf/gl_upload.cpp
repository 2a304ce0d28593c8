#include "gl_upload.h"

#include <GL/gl.h>
#include <GL/glext.h>
#include <drm_fourcc.h>

#include <cstring>

namespace egl_dmabuf {
namespace {

// Which unpack state the current context has: GLES 2 knows only
// GL_UNPACK_ALIGNMENT; desktop GL and GLES 3 add row length, skips and
// pixel-unpack buffers (glPixelStorei / glBindBuffer reference pages).
struct ContextKind {
  bool gles2 = false;
};

ContextKind context_kind(const uint8_t* version) {
  const char* v = reinterpret_cast<const char*>(version);
  ContextKind kind;
  if (v && std::strncmp(v, "OpenGL ES ", 10) == 0) kind.gles2 = v[10] == '2' || v[10] == '1';
  return kind;
}

}  // namespace

GlPixelFormat gl_pixel_format(uint32_t fourcc) {
  switch (fourcc) {
    case DRM_FORMAT_R8: return {GL_RED, GL_R8, 1, {0, 1, 2, 3}, false};
    case DRM_FORMAT_GR88: return {GL_RG, GL_RG8, 2, {0, 1, 2, 3}, false};  // bytes R, G
    case DRM_FORMAT_RG88: return {GL_RG, GL_RG8, 2, {1, 0, 2, 3}, false};  // bytes G, R
    case DRM_FORMAT_ARGB8888: return {GL_RGBA, GL_RGBA8, 4, {2, 1, 0, 3}, false};  // bytes B, G, R, A
    case DRM_FORMAT_XRGB8888: return {GL_RGBA, GL_RGBA8, 4, {2, 1, 0, 3}, true};
    case DRM_FORMAT_ABGR8888: return {GL_RGBA, GL_RGBA8, 4, {0, 1, 2, 3}, false};  // bytes R, G, B, A
    case DRM_FORMAT_XBGR8888: return {GL_RGBA, GL_RGBA8, 4, {0, 1, 2, 3}, true};
    default: return {0, 0, 0, {0, 1, 2, 3}, false};
  }
}

std::vector<uint8_t> to_gl_order(const std::vector<uint8_t>& packed, const GlPixelFormat& f) {
  const bool identity = f.order[0] == 0 && f.order[1] == 1 && f.order[2] == 2 && f.order[3] == 3;
  if (identity && !f.opaque) return packed;
  std::vector<uint8_t> out(packed.size());
  const uint32_t n = f.bytes_per_pixel;
  for (size_t i = 0; i + n <= packed.size(); i += n) {
    for (uint32_t c = 0; c < n; ++c) out[i + c] = packed[i + f.order[c]];
    if (f.opaque) out[i + n - 1] = 255;
  }
  return out;
}

bool GlUploader::resolve(std::string& why) {
  if (resolved_) return true;
  get_integerv_ = reinterpret_cast<decltype(get_integerv_)>(get_proc_("glGetIntegerv"));
  pixel_storei_ = reinterpret_cast<decltype(pixel_storei_)>(get_proc_("glPixelStorei"));
  tex_image_2d_ = reinterpret_cast<decltype(tex_image_2d_)>(get_proc_("glTexImage2D"));
  bind_buffer_ = reinterpret_cast<decltype(bind_buffer_)>(get_proc_("glBindBuffer"));
  get_string_ = reinterpret_cast<decltype(get_string_)>(get_proc_("glGetString"));
  if (!get_integerv_ || !pixel_storei_ || !tex_image_2d_ || !bind_buffer_ || !get_string_) {
    why = "the underlying vendor lacks glGetIntegerv/glPixelStorei/glTexImage2D/glBindBuffer/glGetString";
    return false;
  }
  resolved_ = true;
  return true;
}

bool GlUploader::upload(uint32_t fourcc, uint32_t width, uint32_t height, const std::vector<uint8_t>& packed,
                        std::string& why) {
  GlPixelFormat f = gl_pixel_format(fourcc);
  if (f.bytes_per_pixel == 0) {
    why = "no GL_TEXTURE_2D form for this format";
    return false;
  }
  if (!resolve(why)) return false;
  const ContextKind kind = context_kind(get_string_(GL_VERSION));
  std::vector<uint8_t> pixels = to_gl_order(packed, f);

  // Rows are packed: alignment 1, no row length, no skips, no unpack buffer.
  GLint alignment = 4, row_length = 0, skip_rows = 0, skip_pixels = 0, unpack_buffer = 0;
  get_integerv_(GL_UNPACK_ALIGNMENT, &alignment);
  pixel_storei_(GL_UNPACK_ALIGNMENT, 1);
  if (!kind.gles2) {
    get_integerv_(GL_UNPACK_ROW_LENGTH, &row_length);
    get_integerv_(GL_UNPACK_SKIP_ROWS, &skip_rows);
    get_integerv_(GL_UNPACK_SKIP_PIXELS, &skip_pixels);
    get_integerv_(GL_PIXEL_UNPACK_BUFFER_BINDING, &unpack_buffer);
    pixel_storei_(GL_UNPACK_ROW_LENGTH, 0);
    pixel_storei_(GL_UNPACK_SKIP_ROWS, 0);
    pixel_storei_(GL_UNPACK_SKIP_PIXELS, 0);
    bind_buffer_(GL_PIXEL_UNPACK_BUFFER, 0);
  }
  // GLES 2 (EXT_texture_rg) takes the unsized format as internal format.
  const GLint internal = kind.gles2 ? static_cast<GLint>(f.gl_format) : static_cast<GLint>(f.sized_internal);
  tex_image_2d_(GL_TEXTURE_2D, 0, internal, static_cast<GLsizei>(width), static_cast<GLsizei>(height), 0,
                f.gl_format, GL_UNSIGNED_BYTE, pixels.data());

  pixel_storei_(GL_UNPACK_ALIGNMENT, alignment);
  if (!kind.gles2) {
    pixel_storei_(GL_UNPACK_ROW_LENGTH, row_length);
    pixel_storei_(GL_UNPACK_SKIP_ROWS, skip_rows);
    pixel_storei_(GL_UNPACK_SKIP_PIXELS, skip_pixels);
    bind_buffer_(GL_PIXEL_UNPACK_BUFFER, static_cast<GLuint>(unpack_buffer));
  }
  return true;
}

}  // namespace egl_dmabuf
