// The import layer loaded by glvnd in front of Mesa (llvmpipe, surfaceless):
// what a client sees through libEGL and GLES. memfds stand in for dma-bufs
// (both are mmap-able fds whose size lseek(SEEK_END) reports).
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <GLES2/gl2ext.h>
#include <drm_fourcc.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "dmabuf_format.h"
#include "imported_image.h"
#include "v4l2/unique_fd.h"

namespace {

using egl_dmabuf::PlaneExtent;
using egl_dmabuf::PlaneLocation;

std::string g_hash_log;

v4l2va::UniqueFd memfd_with(const std::vector<uint8_t>& bytes) {
  v4l2va::UniqueFd fd(memfd_create("fake-dmabuf", MFD_CLOEXEC));
  if (!fd.valid() || ::write(fd.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) return {};
  return fd;
}

std::vector<uint8_t> pattern(size_t size, int seed) {
  std::vector<uint8_t> v(size);
  for (size_t i = 0; i < size; ++i) v[i] = uint8_t((i * 31 + (i >> 7) * 17 + seed) & 0xff);
  return v;
}

std::vector<std::string> hash_lines() {
  std::ifstream in(g_hash_log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class EglDmabuf : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    display_ = eglGetPlatformDisplay(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr);
    ASSERT_NE(display_, EGL_NO_DISPLAY);
    ASSERT_TRUE(eglInitialize(display_, nullptr, nullptr));
    ASSERT_TRUE(eglBindAPI(EGL_OPENGL_ES_API));
    const EGLint context_attributes[] = {EGL_CONTEXT_MAJOR_VERSION, GetParam(), EGL_NONE};
    context_ = eglCreateContext(display_, EGL_NO_CONFIG_KHR, EGL_NO_CONTEXT, context_attributes);
    ASSERT_NE(context_, EGL_NO_CONTEXT) << std::hex << eglGetError();
    ASSERT_TRUE(eglMakeCurrent(display_, EGL_NO_SURFACE, EGL_NO_SURFACE, context_));
    target_ = reinterpret_cast<PFNGLEGLIMAGETARGETTEXTURE2DOESPROC>(eglGetProcAddress("glEGLImageTargetTexture2DOES"));
    query_formats_ = reinterpret_cast<PFNEGLQUERYDMABUFFORMATSEXTPROC>(eglGetProcAddress("eglQueryDmaBufFormatsEXT"));
    query_modifiers_ =
        reinterpret_cast<PFNEGLQUERYDMABUFMODIFIERSEXTPROC>(eglGetProcAddress("eglQueryDmaBufModifiersEXT"));
    create_image_khr_ = reinterpret_cast<PFNEGLCREATEIMAGEKHRPROC>(eglGetProcAddress("eglCreateImageKHR"));
    ASSERT_TRUE(target_ && query_formats_ && query_modifiers_ && create_image_khr_);
  }
  void TearDown() override {
    eglMakeCurrent(display_, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    if (context_ != EGL_NO_CONTEXT) eglDestroyContext(display_, context_);
  }

  EGLImage import_plane(uint32_t fourcc, int width, int height, int fd, uint32_t offset, uint32_t pitch,
                        bool tiled = false) {
    std::vector<EGLAttrib> a = {EGL_WIDTH, width, EGL_HEIGHT, height, EGL_LINUX_DRM_FOURCC_EXT, fourcc,
                                EGL_DMA_BUF_PLANE0_FD_EXT, fd, EGL_DMA_BUF_PLANE0_OFFSET_EXT, offset,
                                EGL_DMA_BUF_PLANE0_PITCH_EXT, pitch};
    if (tiled) {
      const uint64_t m = DRM_FORMAT_MOD_ALLWINNER_TILED;
      a.insert(a.end(), {EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT, static_cast<EGLAttrib>(m & 0xffffffff),
                         EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT, static_cast<EGLAttrib>(m >> 32)});
    }
    a.push_back(EGL_NONE);
    return eglCreateImage(display_, EGL_NO_CONTEXT, EGL_LINUX_DMA_BUF_EXT, nullptr, a.data());
  }

  // Binds `image` to a new texture and reads it back through an FBO as RGBA.
  std::vector<uint8_t> texture_pixels(EGLImage image, int width, int height, GLenum& error) {
    GLuint texture = 0, framebuffer = 0;
    glGenTextures(1, &texture);
    glBindTexture(GL_TEXTURE_2D, texture);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    while (glGetError() != GL_NO_ERROR) {
    }
    target_(GL_TEXTURE_2D, image);
    error = glGetError();
    std::vector<uint8_t> rgba(size_t(width) * height * 4);
    if (error == GL_NO_ERROR) {
      glGenFramebuffers(1, &framebuffer);
      glBindFramebuffer(GL_FRAMEBUFFER, framebuffer);
      glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, texture, 0);
      EXPECT_EQ(glCheckFramebufferStatus(GL_FRAMEBUFFER), static_cast<GLenum>(GL_FRAMEBUFFER_COMPLETE));
      glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE, rgba.data());
      glBindFramebuffer(GL_FRAMEBUFFER, 0);
      glDeleteFramebuffers(1, &framebuffer);
    }
    glDeleteTextures(1, &texture);
    return rgba;
  }

  EGLDisplay display_ = EGL_NO_DISPLAY;
  EGLContext context_ = EGL_NO_CONTEXT;
  PFNGLEGLIMAGETARGETTEXTURE2DOESPROC target_ = nullptr;
  PFNEGLQUERYDMABUFFORMATSEXTPROC query_formats_ = nullptr;
  PFNEGLQUERYDMABUFMODIFIERSEXTPROC query_modifiers_ = nullptr;
  PFNEGLCREATEIMAGEKHRPROC create_image_khr_ = nullptr;
};

TEST_P(EglDmabuf, AdvertisesTheExtensions) {
  std::string extensions = eglQueryString(display_, EGL_EXTENSIONS);
  EXPECT_NE(extensions.find("EGL_EXT_image_dma_buf_import "), std::string::npos);
  EXPECT_NE(extensions.find("EGL_EXT_image_dma_buf_import_modifiers"), std::string::npos);
  EXPECT_NE(extensions.find("EGL_KHR_image_base"), std::string::npos);  // Mesa's own are kept
}

TEST_P(EglDmabuf, ListsFormatsAndModifiers) {
  EGLint count = 0;
  ASSERT_TRUE(query_formats_(display_, 0, nullptr, &count));
  std::vector<EGLint> formats(count);
  ASSERT_TRUE(query_formats_(display_, count, formats.data(), &count));
  for (uint32_t wanted : {DRM_FORMAT_R8, DRM_FORMAT_GR88, DRM_FORMAT_NV12})
    EXPECT_NE(std::find(formats.begin(), formats.end(), static_cast<EGLint>(wanted)), formats.end());
  EGLuint64KHR modifiers[4];
  EGLBoolean external[4];
  ASSERT_TRUE(query_modifiers_(display_, DRM_FORMAT_NV12, 4, modifiers, external, &count));
  ASSERT_EQ(count, 2);
  EXPECT_EQ(modifiers[1], DRM_FORMAT_MOD_ALLWINNER_TILED);
  EXPECT_EQ(external[0], EGL_TRUE);
  ASSERT_TRUE(query_modifiers_(display_, DRM_FORMAT_R8, 4, modifiers, external, &count));
  EXPECT_EQ(external[0], EGL_FALSE);
  EXPECT_FALSE(query_modifiers_(display_, DRM_FORMAT_YUV420, 4, modifiers, external, &count));
  EXPECT_EQ(eglGetError(), EGL_BAD_PARAMETER);
}

TEST_P(EglDmabuf, LinearLumaPlaneWithOffsetAndPitch) {
  const int w = 40, h = 12;
  const PlaneExtent e{w, h};
  const PlaneLocation where{256, 64};
  auto packed = pattern(size_t(w) * h, GetParam());
  auto fd = memfd_with(egl_dmabuf::write_plane(packed, e, where, egl_dmabuf::kModifierLinear, 256 + 64 * h));
  ASSERT_TRUE(fd.valid());
  size_t lines_before = hash_lines().size();
  EGLImage image = import_plane(DRM_FORMAT_R8, w, h, fd.get(), 256, 64);
  ASSERT_NE(image, EGL_NO_IMAGE) << std::hex << eglGetError();
  fd.reset();  // EGL keeps its own reference to the buffer
  GLenum error = 0;
  auto rgba = texture_pixels(image, w, h, error);
  ASSERT_EQ(error, static_cast<GLenum>(GL_NO_ERROR));
  for (int i = 0; i < w * h; ++i) ASSERT_EQ(rgba[i * 4], packed[i]) << "pixel " << i;
  auto lines = hash_lines();
  ASSERT_EQ(lines.size(), lines_before + 1);
  EXPECT_NE(lines.back().find("\"fourcc\":\"R8\""), std::string::npos);
  EXPECT_NE(lines.back().find(egl_dmabuf::md5_hex(packed)), std::string::npos);
  EXPECT_TRUE(eglDestroyImage(display_, image));
}

TEST_P(EglDmabuf, TiledChromaPlane) {
  const int w = 24, h = 20;  // 24 CbCr pairs = 48 bytes a row: two tiles, the second partly used
  const PlaneExtent e{w * 2, h};
  const PlaneLocation where{0, 64};
  auto packed = pattern(size_t(w) * 2 * h, 3);
  auto fd = memfd_with(egl_dmabuf::write_plane(packed, e, where, egl_dmabuf::kModifierAllwinnerTiled, 64 * 32));
  ASSERT_TRUE(fd.valid());
  EGLImage image = import_plane(DRM_FORMAT_GR88, w, h, fd.get(), 0, 64, true);
  ASSERT_NE(image, EGL_NO_IMAGE) << std::hex << eglGetError();
  GLenum error = 0;
  auto rgba = texture_pixels(image, w, h, error);
  ASSERT_EQ(error, static_cast<GLenum>(GL_NO_ERROR));
  for (int i = 0; i < w * h; ++i) {
    ASSERT_EQ(rgba[i * 4], packed[i * 2]) << "Cb of pixel " << i;
    ASSERT_EQ(rgba[i * 4 + 1], packed[i * 2 + 1]) << "Cr of pixel " << i;
  }
  EXPECT_NE(hash_lines().back().find("\"modifier\":\"allwinner-tiled\""), std::string::npos);
  eglDestroyImage(display_, image);
}

TEST_P(EglDmabuf, KhrEntryPointTakesEglintAttributes) {
  auto fd = memfd_with(pattern(16 * 16 * 4, 1));
  const EGLint a[] = {EGL_WIDTH, 16, EGL_HEIGHT, 16, EGL_LINUX_DRM_FOURCC_EXT, static_cast<EGLint>(DRM_FORMAT_XRGB8888),
                      EGL_DMA_BUF_PLANE0_FD_EXT, fd.get(), EGL_DMA_BUF_PLANE0_OFFSET_EXT, 0,
                      EGL_DMA_BUF_PLANE0_PITCH_EXT, 64, EGL_NONE};
  EGLImageKHR image = create_image_khr_(display_, EGL_NO_CONTEXT, EGL_LINUX_DMA_BUF_EXT, nullptr, a);
  ASSERT_NE(image, EGL_NO_IMAGE_KHR);
  GLenum error = 0;
  auto rgba = texture_pixels(image, 16, 16, error);
  ASSERT_EQ(error, static_cast<GLenum>(GL_NO_ERROR));
  auto source = pattern(16 * 16 * 4, 1);
  EXPECT_EQ(rgba[0], source[2]);  // R comes from byte 2 of B, G, R, X
  EXPECT_EQ(rgba[3], 255);
  eglDestroyImage(display_, image);
}

TEST_P(EglDmabuf, PlaneBeyondTheBufferIsBadAccess) {
  auto fd = memfd_with(pattern(1000, 0));
  EXPECT_EQ(import_plane(DRM_FORMAT_R8, 32, 32, fd.get(), 0, 32), EGL_NO_IMAGE);
  EXPECT_EQ(eglGetError(), EGL_BAD_ACCESS);
}

TEST_P(EglDmabuf, ContextOrBufferGivenIsBadParameter) {
  auto fd = memfd_with(pattern(1024, 0));
  const EGLAttrib a[] = {EGL_WIDTH, 32, EGL_HEIGHT, 32, EGL_LINUX_DRM_FOURCC_EXT, DRM_FORMAT_R8,
                         EGL_DMA_BUF_PLANE0_FD_EXT, fd.get(), EGL_DMA_BUF_PLANE0_OFFSET_EXT, 0,
                         EGL_DMA_BUF_PLANE0_PITCH_EXT, 32, EGL_NONE};
  EXPECT_EQ(eglCreateImage(display_, context_, EGL_LINUX_DMA_BUF_EXT, nullptr, a), EGL_NO_IMAGE);
  EXPECT_EQ(eglGetError(), EGL_BAD_PARAMETER);
}

TEST_P(EglDmabuf, Nv12ImportsButIsNotATexture2D) {
  const int w = 32, h = 16;
  auto fd = memfd_with(pattern(w * h * 3 / 2, 0));
  const EGLAttrib a[] = {EGL_WIDTH, w, EGL_HEIGHT, h, EGL_LINUX_DRM_FOURCC_EXT, DRM_FORMAT_NV12,
                         EGL_DMA_BUF_PLANE0_FD_EXT, fd.get(), EGL_DMA_BUF_PLANE0_OFFSET_EXT, 0,
                         EGL_DMA_BUF_PLANE0_PITCH_EXT, w, EGL_DMA_BUF_PLANE1_FD_EXT, fd.get(),
                         EGL_DMA_BUF_PLANE1_OFFSET_EXT, w * h, EGL_DMA_BUF_PLANE1_PITCH_EXT, w, EGL_NONE};
  EGLImage image = eglCreateImage(display_, EGL_NO_CONTEXT, EGL_LINUX_DMA_BUF_EXT, nullptr, a);
  ASSERT_NE(image, EGL_NO_IMAGE);
  size_t lines_before = hash_lines().size();
  GLenum error = 0;
  texture_pixels(image, w, h, error);
  EXPECT_EQ(error, static_cast<GLenum>(GL_INVALID_VALUE));  // Mesa's answer for an image it cannot use
  EXPECT_EQ(hash_lines().size(), lines_before);
  EXPECT_TRUE(eglDestroyImage(display_, image));
}

TEST_P(EglDmabuf, DestroyedImageIsUnknownAfterwards) {
  auto fd = memfd_with(pattern(1024, 0));
  EGLImage image = import_plane(DRM_FORMAT_R8, 32, 32, fd.get(), 0, 32);
  ASSERT_NE(image, EGL_NO_IMAGE);
  EXPECT_TRUE(eglDestroyImage(display_, image));
  EXPECT_FALSE(eglDestroyImage(display_, image));  // now Mesa's to judge: not its image
  EXPECT_EQ(eglGetError(), EGL_BAD_PARAMETER);
}

// Mesa's own images still work through the layer.
TEST_P(EglDmabuf, MesaTextureImagesPassThrough) {
  GLuint source = 0;
  glGenTextures(1, &source);
  glBindTexture(GL_TEXTURE_2D, source);
  std::vector<uint8_t> pixels(8 * 8 * 4, 0x5a);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, 8, 8, 0, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  EGLImage image = eglCreateImage(display_, context_, EGL_GL_TEXTURE_2D,
                                  reinterpret_cast<EGLClientBuffer>(static_cast<uintptr_t>(source)), nullptr);
  ASSERT_NE(image, EGL_NO_IMAGE) << std::hex << eglGetError();
  GLenum error = 0;
  auto rgba = texture_pixels(image, 8, 8, error);
  EXPECT_EQ(error, static_cast<GLenum>(GL_NO_ERROR));
  EXPECT_EQ(rgba[0], 0x5a);
  EXPECT_TRUE(eglDestroyImage(display_, image));
  glDeleteTextures(1, &source);
}

INSTANTIATE_TEST_SUITE_P(GlesVersions, EglDmabuf, ::testing::Values(2, 3),
                         [](const ::testing::TestParamInfo<int>& info) { return "Gles" + std::to_string(info.param); });

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // glvnd reads the vendor list on the first EGL call; the hash log is read
  // by the layer when it loads.
  char path[] = "/tmp/egl-dmabuf-test-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) ::close(fd);
  g_hash_log = path;
  setenv("EGL_DMABUF_HASH_LOG", path, 1);
  int result = RUN_ALL_TESTS();
  ::unlink(path);
  return result;
}
