// A glvnd EGL vendor library that wraps Mesa's (libEGL_mesa.so.0) and adds
// what Mesa's llvmpipe on Debian 12 lacks: EGL_EXT_image_dma_buf_import and
// EGL_EXT_image_dma_buf_import_modifiers. A model of the GPU's importer for
// tests, never for users: the pixels are copied, not shared (docs/egl-dmabuf.md).
//
// glvnd (libglvnd 1.6, include/glvnd/libeglabi.h) calls __egl_Main of every
// vendor named by __EGL_VENDOR_LIBRARY_FILENAMES; a vendor fills an
// __EGLapiImports table, and glvnd finds every EGL and GL entry point of the
// vendor through imports->getProcAddress (core EGL at load, extension EGL
// functions through the vendor's dispatch stubs, GL functions through
// libGLdispatch). Mesa fills the table here; this library then puts its own
// getProcAddress in front, which hands out the overrides below and Mesa's
// functions for everything else.

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GL/gl.h>
#include <dlfcn.h>
#include <glvnd/libeglabi.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "dmabuf_attributes.h"
#include "gl_upload.h"
#include "hash_log.h"
#include "imported_image.h"

namespace egl_dmabuf {
namespace {

#ifndef GL_TEXTURE_EXTERNAL_OES
constexpr GLenum GL_TEXTURE_EXTERNAL_OES = 0x8D65;
#endif

constexpr const char* kAddedExtensions[] = {"EGL_EXT_image_dma_buf_import", "EGL_EXT_image_dma_buf_import_modifiers"};

using QueryStringFn = const char* (*)(EGLDisplay, EGLint);
using CreateImageFn = EGLImage (*)(EGLDisplay, EGLContext, EGLenum, EGLClientBuffer, const EGLAttrib*);
using CreateImageKhrFn = EGLImageKHR (*)(EGLDisplay, EGLContext, EGLenum, EGLClientBuffer, const EGLint*);
using DestroyImageFn = EGLBoolean (*)(EGLDisplay, EGLImage);
using ImageTargetFn = void (*)(GLenum, void*);

// What Mesa gave us, resolved once in __egl_Main.
struct Underlying {
  const __EGLapiExports* exports = nullptr;
  void* (*get_proc_address)(const char*) = nullptr;
  QueryStringFn query_string = nullptr;
  CreateImageFn create_image = nullptr;
  CreateImageKhrFn create_image_khr = nullptr;
  DestroyImageFn destroy_image = nullptr;
  DestroyImageFn destroy_image_khr = nullptr;
  ImageTargetFn image_target_texture_2d = nullptr;
};

Underlying& mesa() {
  static Underlying u;
  return u;
}

void log_error(const char* format, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char* format, ...) {
  char line[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  std::fprintf(stderr, "egl-dmabuf: %s\n", line);
}

bool verbose() {
  static const bool on = [] {
    const char* v = std::getenv("EGL_DMABUF_LOG");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

const char* egl_error_name(EGLint code) {
  switch (code) {
    case EGL_BAD_PARAMETER: return "EGL_BAD_PARAMETER";
    case EGL_BAD_MATCH: return "EGL_BAD_MATCH";
    case EGL_BAD_ATTRIBUTE: return "EGL_BAD_ATTRIBUTE";
    case EGL_BAD_ACCESS: return "EGL_BAD_ACCESS";
    case EGL_BAD_ALLOC: return "EGL_BAD_ALLOC";
    default: return "EGL error";
  }
}

void set_error(EGLint code) {
  if (mesa().exports && mesa().exports->setEGLError) mesa().exports->setEGLError(code);
}

// ---- The images this layer made ----

struct ImageEntry {
  uint64_t number = 0;
  EGLDisplay display = EGL_NO_DISPLAY;
  std::unique_ptr<ImportedImage> image;
};

class ImageTable {
 public:
  EGLImage add(EGLDisplay display, std::unique_ptr<ImportedImage> image) {
    auto entry = std::make_shared<ImageEntry>();
    entry->display = display;
    entry->image = std::move(image);
    std::lock_guard<std::mutex> lock(mutex_);
    entry->number = next_number_++;
    // The handle is the entry's own address: never equal to a live Mesa
    // image (a heap object of Mesa's), so both kinds can be told apart.
    EGLImage handle = static_cast<EGLImage>(entry.get());
    entries_[handle] = std::move(entry);
    return handle;
  }
  std::shared_ptr<ImageEntry> find(EGLImage handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(handle);
    return it == entries_.end() ? nullptr : it->second;
  }
  bool remove(EGLImage handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.erase(handle) != 0;
  }

 private:
  std::mutex mutex_;
  uint64_t next_number_ = 0;
  std::map<EGLImage, std::shared_ptr<ImageEntry>> entries_;
};

ImageTable& images() {
  static ImageTable table;
  return table;
}

HashLog& hash_log() {
  static HashLog log;
  return log;
}

// A valid, initialised display of Mesa's? Asking Mesa leaves its error
// (EGL_BAD_DISPLAY, EGL_NOT_INITIALIZED) for eglGetError when not.
bool display_ok(EGLDisplay display) { return mesa().query_string(display, EGL_VENDOR) != nullptr; }

// ---- EGL overrides ----

const char* layer_query_string(EGLDisplay display, EGLint name) {
  const char* base = mesa().query_string(display, name);
  if (name != EGL_EXTENSIONS || display == EGL_NO_DISPLAY || !base) return base;
  static std::mutex mutex;
  static std::map<EGLDisplay, std::string> strings;  // kept for the process: callers keep the pointer
  std::lock_guard<std::mutex> lock(mutex);
  std::string& text = strings[display];
  text = base;
  for (const char* extension : kAddedExtensions) {
    if (std::strstr(base, extension)) continue;
    if (!text.empty() && text.back() != ' ') text += ' ';
    text += extension;
  }
  return text.c_str();
}

EGLImage import_dma_buf(EGLDisplay display, EGLContext context, EGLClientBuffer buffer,
                        const std::vector<EGLAttrib>& list) {
  if (!display_ok(display)) return EGL_NO_IMAGE;
  ImportError error;
  DmaBufAttributes attributes;
  ImportSpec spec;
  std::unique_ptr<ImportedImage> image;
  // EGL_EXT_image_dma_buf_import: <ctx> must be EGL_NO_CONTEXT and
  // <buffer> NULL, else EGL_BAD_PARAMETER.
  if (context != EGL_NO_CONTEXT || buffer != nullptr)
    error = {EGL_BAD_PARAMETER, "ctx must be EGL_NO_CONTEXT and buffer NULL"};
  else if ((error = parse_attributes(list, attributes)).ok() && (error = check_attributes(attributes, spec)).ok())
    image = ImportedImage::create(spec, error);
  if (!image) {
    log_error("eglCreateImage(EGL_LINUX_DMA_BUF_EXT, %s %lldx%lld) failed: %s: %s",
              fourcc_name(attributes.fourcc).c_str(), static_cast<long long>(attributes.width),
              static_cast<long long>(attributes.height), egl_error_name(error.code), error.message.c_str());
    set_error(error.code);
    return EGL_NO_IMAGE;
  }
  if (verbose())
    log_error("imported %s %ux%u %s buffer %s", fourcc_name(spec.format->fourcc).c_str(), spec.width, spec.height,
              modifier_name(spec.modifier).c_str(), image->buffer_identity().c_str());
  EGLImage handle = images().add(display, std::move(image));
  set_error(EGL_SUCCESS);
  return handle;
}

EGLImage layer_create_image(EGLDisplay display, EGLContext context, EGLenum target, EGLClientBuffer buffer,
                            const EGLAttrib* attributes) {
  if (target != EGL_LINUX_DMA_BUF_EXT) return mesa().create_image(display, context, target, buffer, attributes);
  return import_dma_buf(display, context, buffer, attribute_vector(attributes));
}

EGLImageKHR layer_create_image_khr(EGLDisplay display, EGLContext context, EGLenum target, EGLClientBuffer buffer,
                                   const EGLint* attributes) {
  if (target != EGL_LINUX_DMA_BUF_EXT)
    return mesa().create_image_khr(display, context, target, buffer, attributes);
  return import_dma_buf(display, context, buffer, attribute_vector(attributes));
}

EGLBoolean destroy(EGLDisplay display, EGLImage image, DestroyImageFn underlying) {
  if (!images().find(image)) return underlying(display, image);
  if (!display_ok(display)) return EGL_FALSE;
  images().remove(image);
  set_error(EGL_SUCCESS);
  return EGL_TRUE;
}

EGLBoolean layer_destroy_image(EGLDisplay display, EGLImage image) {
  return destroy(display, image, mesa().destroy_image);
}

EGLBoolean layer_destroy_image_khr(EGLDisplay display, EGLImage image) {
  return destroy(display, image, mesa().destroy_image_khr);
}

// EGL_EXT_image_dma_buf_import_modifiers: max < 0 is EGL_BAD_PARAMETER;
// with max 0 only the count is returned.
EGLBoolean layer_query_formats(EGLDisplay display, EGLint max_formats, EGLint* formats, EGLint* num_formats) {
  if (!display_ok(display)) return EGL_FALSE;
  if (max_formats < 0 || !num_formats || (max_formats > 0 && !formats)) {
    set_error(EGL_BAD_PARAMETER);
    return EGL_FALSE;
  }
  std::vector<uint32_t> list = supported_formats();
  EGLint n = max_formats == 0 ? static_cast<EGLint>(list.size())
                              : std::min<EGLint>(max_formats, static_cast<EGLint>(list.size()));
  for (EGLint i = 0; max_formats > 0 && i < n; ++i) formats[i] = static_cast<EGLint>(list[i]);
  *num_formats = n;
  set_error(EGL_SUCCESS);
  return EGL_TRUE;
}

// "If <format> is not supported, EGL_BAD_PARAMETER"; external_only is true
// for the formats that cannot be a GL_TEXTURE_2D (NV12).
EGLBoolean layer_query_modifiers(EGLDisplay display, EGLint format, EGLint max_modifiers, EGLuint64KHR* modifiers,
                                 EGLBoolean* external_only, EGLint* num_modifiers) {
  if (!display_ok(display)) return EGL_FALSE;
  const FormatInfo* info = find_format(static_cast<uint32_t>(format));
  if (!info || max_modifiers < 0 || !num_modifiers || (max_modifiers > 0 && !modifiers)) {
    set_error(EGL_BAD_PARAMETER);
    return EGL_FALSE;
  }
  std::vector<uint64_t> list = supported_modifiers(info->fourcc);
  EGLint n = max_modifiers == 0 ? static_cast<EGLint>(list.size())
                                : std::min<EGLint>(max_modifiers, static_cast<EGLint>(list.size()));
  for (EGLint i = 0; max_modifiers > 0 && i < n; ++i) {
    modifiers[i] = list[i];
    if (external_only) external_only[i] = info->texture_2d ? EGL_FALSE : EGL_TRUE;
  }
  *num_modifiers = n;
  set_error(EGL_SUCCESS);
  return EGL_TRUE;
}

// ---- GL override ----

GlUploader& uploader() {
  static GlUploader instance(mesa().get_proc_address);
  return instance;
}

// Reads, hashes and uploads the image into the texture bound to `target`.
// On any refusal Mesa is handed a null image, for which it raises
// GL_INVALID_VALUE (what a driver that cannot use an image answers); never
// this layer's handle, which Mesa's swrast would dereference.
void layer_image_target_texture_2d(GLenum target, void* handle) {
  std::shared_ptr<ImageEntry> entry = images().find(handle);
  if (!entry) return mesa().image_target_texture_2d(target, handle);
  const ImportedImage& image = *entry->image;
  const std::string name = fourcc_name(image.format().fourcc);
  std::string why;
  if (target != GL_TEXTURE_2D) {
    why = target == GL_TEXTURE_EXTERNAL_OES ? "GL_TEXTURE_EXTERNAL_OES is not modelled (GL_TEXTURE_2D only)"
                                            : "target is not GL_TEXTURE_2D";
  } else if (!image.format().texture_2d) {
    why = "a multi-planar image can only be sampled as GL_TEXTURE_EXTERNAL_OES, which is not modelled";
  }
  PlaneContents contents;
  if (why.empty() && image.read(contents, why)) {
    ImportRecord record{entry->number, name, modifier_name(image.modifier()), image.buffer_identity(),
                        image.width(), image.height(), {}};
    for (const auto& plane : contents.planes) record.plane_md5.push_back(md5_hex(plane));
    hash_log().append(record);
    if (uploader().upload(image.format().fourcc, image.width(), image.height(), contents.planes.front(), why)) return;
  }
  log_error("glEGLImageTargetTexture2DOES(0x%x, image %llu %s %ux%u) failed: %s", target,
            static_cast<unsigned long long>(entry->number), name.c_str(), image.width(), image.height(), why.c_str());
  mesa().image_target_texture_2d(target, nullptr);
}

// ---- Lookup ----

struct Override {
  const char* name;
  void* function;
};

const Override kOverrides[] = {
    {"eglQueryString", reinterpret_cast<void*>(&layer_query_string)},
    {"eglCreateImage", reinterpret_cast<void*>(&layer_create_image)},
    {"eglCreateImageKHR", reinterpret_cast<void*>(&layer_create_image_khr)},
    {"eglDestroyImage", reinterpret_cast<void*>(&layer_destroy_image)},
    {"eglDestroyImageKHR", reinterpret_cast<void*>(&layer_destroy_image_khr)},
    {"eglQueryDmaBufFormatsEXT", reinterpret_cast<void*>(&layer_query_formats)},
    {"eglQueryDmaBufModifiersEXT", reinterpret_cast<void*>(&layer_query_modifiers)},
    {"glEGLImageTargetTexture2DOES", reinterpret_cast<void*>(&layer_image_target_texture_2d)},
};

void* layer_get_proc_address(const char* name) {
  for (const Override& o : kOverrides)
    if (std::strcmp(o.name, name) == 0) return o.function;
  return mesa().get_proc_address(name);
}

template <typename Fn>
bool resolve(Fn& out, const char* name) {
  out = reinterpret_cast<Fn>(mesa().get_proc_address(name));
  if (!out) log_error("the underlying vendor has no %s", name);
  return out != nullptr;
}

bool resolve_underlying() {
  Underlying& u = mesa();
  return resolve(u.query_string, "eglQueryString") && resolve(u.create_image, "eglCreateImage") &&
         resolve(u.create_image_khr, "eglCreateImageKHR") && resolve(u.destroy_image, "eglDestroyImage") &&
         resolve(u.destroy_image_khr, "eglDestroyImageKHR") &&
         resolve(u.image_target_texture_2d, "glEGLImageTargetTexture2DOES");
}

}  // namespace
}  // namespace egl_dmabuf

extern "C" __attribute__((visibility("default"))) EGLBoolean __egl_Main(uint32_t version,
                                                                        const __EGLapiExports* exports,
                                                                        __EGLvendorInfo* vendor,
                                                                        __EGLapiImports* imports) {
  using namespace egl_dmabuf;
  if (EGL_VENDOR_ABI_GET_MAJOR_VERSION(version) != EGL_VENDOR_ABI_MAJOR_VERSION) return EGL_FALSE;
  const char* library = std::getenv("EGL_DMABUF_UNDERLYING");
  if (!library || !*library) library = "libEGL_mesa.so.0";
  void* handle = ::dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    log_error("dlopen(%s) failed: %s", library, ::dlerror());
    return EGL_FALSE;
  }
  auto underlying_main = reinterpret_cast<__PFNEGLMAINPROC>(::dlsym(handle, __EGL_MAIN_PROTO_NAME));
  if (!underlying_main) {
    log_error("%s has no %s", library, __EGL_MAIN_PROTO_NAME);
    return EGL_FALSE;
  }
  if (!underlying_main(version, exports, vendor, imports)) return EGL_FALSE;
  Underlying& u = mesa();
  u.exports = exports;
  u.get_proc_address = imports->getProcAddress;
  if (!resolve_underlying()) return EGL_FALSE;
  imports->getProcAddress = &layer_get_proc_address;
  return EGL_TRUE;
}
