// The VA-API surface of the driver, loaded by libva exactly as clients load
// it, against the emulated decoder (hantro profile).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>
#include <va/va.h>
#include <va/va_drm.h>
#include <va/va_drmcommon.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <drm_fourcc.h>
#include <thread>
#include <vector>

#include "emulated_device.h"

namespace {

class VaApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fd = open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << "is the emulator preloaded?";
    display = vaGetDisplayDRM(fd);
    ASSERT_NE(display, nullptr);
    int major = 0, minor = 0;
    ASSERT_EQ(vaInitialize(display, &major, &minor), VA_STATUS_SUCCESS);
  }
  void TearDown() override {
    if (display) vaTerminate(display);
    if (fd >= 0) close(fd);
  }

  VAConfigID make_config(VAProfile profile = VAProfileH264Main) {
    VAConfigID config = VA_INVALID_ID;
    EXPECT_EQ(vaCreateConfig(display, profile, VAEntrypointVLD, nullptr, 0, &config), VA_STATUS_SUCCESS);
    return config;
  }

  int fd = -1;
  VADisplay display = nullptr;
};

TEST_F(VaApiTest, ProfilesAreWhatTheDeviceOffers) {
  std::vector<VAProfile> profiles(vaMaxNumProfiles(display));
  int n = 0;
  ASSERT_EQ(vaQueryConfigProfiles(display, profiles.data(), &n), VA_STATUS_SUCCESS);
  profiles.resize(size_t(n));
  // The hantro profile offers Constrained Baseline, Main and High, and VP8
  // (listed in VA enum order).
  EXPECT_EQ(profiles, (std::vector<VAProfile>{VAProfileH264Main, VAProfileH264High,
                                              VAProfileH264ConstrainedBaseline, VAProfileVP8Version0_3}));
  std::vector<VAEntrypoint> eps(vaMaxNumEntrypoints(display));
  ASSERT_EQ(vaQueryConfigEntrypoints(display, VAProfileH264High, eps.data(), &n), VA_STATUS_SUCCESS);
  ASSERT_EQ(n, 1);
  EXPECT_EQ(eps[0], VAEntrypointVLD);
  EXPECT_EQ(vaQueryConfigEntrypoints(display, VAProfileMPEG2Main, eps.data(), &n),
            VA_STATUS_ERROR_UNSUPPORTED_PROFILE);
}

TEST_F(VaApiTest, ConfigAttributesComeFromTheDevice) {
  VAConfigAttrib attribs[3] = {{VAConfigAttribRTFormat, 0},
                               {VAConfigAttribMaxPictureWidth, 0},
                               {VAConfigAttribMaxPictureHeight, 0}};
  ASSERT_EQ(vaGetConfigAttributes(display, VAProfileH264High, VAEntrypointVLD, attribs, 3), VA_STATUS_SUCCESS);
  EXPECT_EQ(attribs[0].value, uint32_t(VA_RT_FORMAT_YUV420));
  EXPECT_EQ(attribs[1].value, 1920u);
  EXPECT_EQ(attribs[2].value, 1088u);
  VAConfigID config = VA_INVALID_ID;
  EXPECT_EQ(vaCreateConfig(display, VAProfileH264High, VAEntrypointEncSlice, nullptr, 0, &config),
            VA_STATUS_ERROR_UNSUPPORTED_ENTRYPOINT);
  EXPECT_EQ(vaCreateConfig(display, VAProfileHEVCMain, VAEntrypointVLD, nullptr, 0, &config),
            VA_STATUS_ERROR_UNSUPPORTED_PROFILE);
  VAConfigAttrib rt{VAConfigAttribRTFormat, VA_RT_FORMAT_YUV422};
  EXPECT_EQ(vaCreateConfig(display, VAProfileH264High, VAEntrypointVLD, &rt, 1, &config),
            VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT);
}

TEST_F(VaApiTest, SurfaceAttributesAreConsistentWithTheConfig) {
  VAConfigID config = make_config();
  unsigned int n = 0;
  ASSERT_EQ(vaQuerySurfaceAttributes(display, config, nullptr, &n), VA_STATUS_SUCCESS);
  std::vector<VASurfaceAttrib> attribs(n);
  ASSERT_EQ(vaQuerySurfaceAttributes(display, config, attribs.data(), &n), VA_STATUS_SUCCESS);
  bool nv12 = false;
  int max_w = 0;
  for (auto& a : attribs) {
    if (a.type == VASurfaceAttribPixelFormat) nv12 = uint32_t(a.value.value.i) == VA_FOURCC_NV12;
    if (a.type == VASurfaceAttribMaxWidth) max_w = a.value.value.i;
  }
  EXPECT_TRUE(nv12);
  EXPECT_EQ(max_w, 1920);
  vaDestroyConfig(display, config);
}

TEST_F(VaApiTest, SurfaceCreationToleratesUnflaggedEntriesAndRejectsWhatItCannotDo) {
  VASurfaceID s = VA_INVALID_SURFACE;
  // ffmpeg passes a PixelFormat entry with flags 0 and type 0.
  VASurfaceAttrib loose{};
  loose.type = VASurfaceAttribPixelFormat;
  EXPECT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, &s, 1, &loose, 1), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaDestroySurfaces(display, &s, 1), VA_STATUS_SUCCESS);

  VASurfaceAttrib yuy2{};
  yuy2.type = VASurfaceAttribPixelFormat;
  yuy2.flags = VA_SURFACE_ATTRIB_SETTABLE;
  yuy2.value.type = VAGenericValueTypeInteger;
  yuy2.value.value.i = int(VA_FOURCC_YUY2);
  EXPECT_NE(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, &s, 1, &yuy2, 1), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV422, 176, 144, &s, 1, nullptr, 0),
            VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT);
  EXPECT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 4096, 2304, &s, 1, nullptr, 0),
            VA_STATUS_ERROR_RESOLUTION_NOT_SUPPORTED);
}

TEST_F(VaApiTest, InvalidIdsAreRejectedByKind) {
  VAConfigID config = make_config();
  VASurfaceID s;
  ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, &s, 1, nullptr, 0), VA_STATUS_SUCCESS);
  // A surface ID is not a context, a config ID is not a surface.
  EXPECT_EQ(vaBeginPicture(display, s, s), VA_STATUS_ERROR_INVALID_CONTEXT);
  EXPECT_EQ(vaSyncSurface(display, config), VA_STATUS_ERROR_INVALID_SURFACE);
  EXPECT_EQ(vaDestroyConfig(display, s), VA_STATUS_ERROR_INVALID_CONFIG);
  EXPECT_EQ(vaDestroyBuffer(display, s), VA_STATUS_ERROR_INVALID_BUFFER);
  vaDestroySurfaces(display, &s, 1);
  vaDestroyConfig(display, config);
}

TEST_F(VaApiTest, DeriveImageBeforeAnyContextGivesABlackImageOfTheSurface) {
  // ffmpeg's probe: one surface, no context yet. The image must be NV12 so
  // that ffmpeg takes the direct path.
  VASurfaceID s;
  ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, &s, 1, nullptr, 0), VA_STATUS_SUCCESS);
  VAImage image;
  ASSERT_EQ(vaDeriveImage(display, s, &image), VA_STATUS_SUCCESS);
  EXPECT_EQ(image.format.fourcc, static_cast<uint32_t>(VA_FOURCC_NV12));
  EXPECT_EQ(image.width, 176);
  EXPECT_EQ(image.height, 144);
  void* ptr = nullptr;
  ASSERT_EQ(vaMapBuffer(display, image.buf, &ptr), VA_STATUS_SUCCESS);
  EXPECT_EQ(static_cast<uint8_t*>(ptr)[0], 16);
  EXPECT_EQ(static_cast<uint8_t*>(ptr)[image.offsets[1]], 128);
  vaUnmapBuffer(display, image.buf);
  EXPECT_EQ(vaDestroyImage(display, image.image_id), VA_STATUS_SUCCESS);
  vaDestroySurfaces(display, &s, 1);
}

TEST_F(VaApiTest, ContextWithoutRenderTargetsBindsSurfacesOnDemand) {
  // GStreamer creates the context with no render targets, surfaces after.
  VAConfigID config = make_config();
  VAContextID context;
  ASSERT_EQ(vaCreateContext(display, config, 176, 144, VA_PROGRESSIVE, nullptr, 0, &context), VA_STATUS_SUCCESS);
  VASurfaceID s[3];
  ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, s, 3, nullptr, 0), VA_STATUS_SUCCESS);
  // Not used by the context yet: DeriveImage gives a copy of its size.
  VAImage image;
  ASSERT_EQ(vaDeriveImage(display, s[0], &image), VA_STATUS_SUCCESS);
  EXPECT_EQ(image.format.fourcc, static_cast<uint32_t>(VA_FOURCC_NV12));
  vaDestroyImage(display, image.image_id);
  for (VASurfaceID id : s) EXPECT_EQ(vaBeginPicture(display, context, id), VA_STATUS_SUCCESS);
  // An EndPicture without buffers is an error, not a crash.
  EXPECT_EQ(vaEndPicture(display, context), VA_STATUS_ERROR_INVALID_PARAMETER);
  EXPECT_EQ(vaDeriveImage(display, s[2], &image), VA_STATUS_SUCCESS);
  EXPECT_EQ(image.pitches[0] % 16, 0u);
  vaDestroyImage(display, image.image_id);
  vaDestroySurfaces(display, s, 3);
  vaDestroyContext(display, context);
  vaDestroyConfig(display, config);
}

TEST_F(VaApiTest, ExportDescribesTheCaptureBufferLayout) {
  VAConfigID config = make_config();
  VASurfaceID s[2];
  ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, s, 2, nullptr, 0), VA_STATUS_SUCCESS);
  VAContextID context;
  ASSERT_EQ(vaCreateContext(display, config, 176, 144, VA_PROGRESSIVE, s, 2, &context), VA_STATUS_SUCCESS);

  VAImage derived;
  ASSERT_EQ(vaDeriveImage(display, s[0], &derived), VA_STATUS_SUCCESS);
  const int fds_before = v4l2va::test::open_fd_count();

  VADRMPRIMESurfaceDescriptor separate{};
  ASSERT_EQ(vaExportSurfaceHandle(display, s[0], VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2,
                                  VA_EXPORT_SURFACE_READ_ONLY | VA_EXPORT_SURFACE_SEPARATE_LAYERS, &separate),
            VA_STATUS_SUCCESS);
  EXPECT_EQ(separate.fourcc, uint32_t(VA_FOURCC_NV12));
  ASSERT_EQ(separate.num_objects, 1u);
  ASSERT_EQ(separate.num_layers, 2u);
  EXPECT_EQ(separate.layers[0].drm_format, uint32_t(DRM_FORMAT_R8));
  EXPECT_EQ(separate.layers[1].drm_format, uint32_t(DRM_FORMAT_GR88));
  // Pitch and chroma offset follow the CAPTURE format, as the derived image does.
  EXPECT_EQ(separate.layers[0].pitch[0], derived.pitches[0]);
  EXPECT_EQ(separate.layers[1].offset[0], derived.offsets[1]);
  EXPECT_EQ(separate.objects[0].drm_format_modifier, DRM_FORMAT_MOD_LINEAR);
  EXPECT_GE(separate.objects[0].size, derived.offsets[1] + derived.pitches[1] * 72);
  // The exported fd maps the same memory the derived image shows.
  void* map = mmap(nullptr, separate.objects[0].size, PROT_READ, MAP_SHARED, separate.objects[0].fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  munmap(map, separate.objects[0].size);

  VADRMPRIMESurfaceDescriptor composed{};
  ASSERT_EQ(vaExportSurfaceHandle(display, s[1], VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2,
                                  VA_EXPORT_SURFACE_READ_ONLY | VA_EXPORT_SURFACE_COMPOSED_LAYERS, &composed),
            VA_STATUS_SUCCESS);
  ASSERT_EQ(composed.num_layers, 1u);
  EXPECT_EQ(composed.layers[0].drm_format, uint32_t(DRM_FORMAT_NV12));
  EXPECT_EQ(composed.layers[0].num_planes, 2u);
  EXPECT_EQ(composed.layers[0].pitch[1], derived.pitches[1]);

  // The caller owns the exported fds: two more now, none after closing.
  EXPECT_EQ(v4l2va::test::open_fd_count(), fds_before + 2);
  close(separate.objects[0].fd);
  close(composed.objects[0].fd);
  EXPECT_EQ(v4l2va::test::open_fd_count(), fds_before);

  EXPECT_EQ(vaExportSurfaceHandle(display, s[0], VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME, 0, &composed),
            VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE);
  vaDestroyImage(display, derived.image_id);
  vaDestroyContext(display, context);
  vaDestroySurfaces(display, s, 2);
  vaDestroyConfig(display, config);
}

TEST_F(VaApiTest, GetImageChecksTheRectangle) {
  VAConfigID config = make_config();
  VASurfaceID s;
  ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, &s, 1, nullptr, 0), VA_STATUS_SUCCESS);
  VAContextID context;
  ASSERT_EQ(vaCreateContext(display, config, 176, 144, VA_PROGRESSIVE, &s, 1, &context), VA_STATUS_SUCCESS);
  VAImageFormat i420{VA_FOURCC_I420, VA_LSB_FIRST, 12, 0, 0, 0, 0, 0, {}};
  VAImage image;
  ASSERT_EQ(vaCreateImage(display, &i420, 64, 64, &image), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaGetImage(display, s, 0, 0, 64, 64, image.image_id), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaGetImage(display, s, 128, 100, 64, 64, image.image_id), VA_STATUS_ERROR_INVALID_PARAMETER);
  EXPECT_EQ(vaGetImage(display, s, 0, 0, 128, 128, image.image_id), VA_STATUS_ERROR_INVALID_PARAMETER);
  vaDestroyImage(display, image.image_id);
  vaDestroyContext(display, context);
  vaDestroySurfaces(display, &s, 1);
  vaDestroyConfig(display, config);
}

TEST_F(VaApiTest, ObjectsCanBeCreatedAndDestroyedFromManyThreads) {
  VAConfigID config = make_config();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        VASurfaceID s[4];
        if (vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, s, 4, nullptr, 0) != VA_STATUS_SUCCESS) {
          ++failures;
          continue;
        }
        VAContextID context;
        if (vaCreateContext(display, config, 176, 144, VA_PROGRESSIVE, s, 4, &context) != VA_STATUS_SUCCESS) ++failures;
        else if (vaDestroyContext(display, context) != VA_STATUS_SUCCESS) ++failures;
        if (vaDestroySurfaces(display, s, 4) != VA_STATUS_SUCCESS) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  vaDestroyConfig(display, config);
}

TEST_F(VaApiTest, TerminateReleasesObjectsTheClientLeft) {
  // Sloppy clients terminate with everything alive; nothing may leak or be
  // used after free (run under ASan in the sanitizer build).
  const int fds_before = v4l2va::test::open_fd_count();
  VAConfigID config = make_config();
  VASurfaceID s[2];
  ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, s, 2, nullptr, 0), VA_STATUS_SUCCESS);
  VAContextID context;
  ASSERT_EQ(vaCreateContext(display, config, 176, 144, VA_PROGRESSIVE, s, 2, &context), VA_STATUS_SUCCESS);
  VAImage derived;
  ASSERT_EQ(vaDeriveImage(display, s[0], &derived), VA_STATUS_SUCCESS);
  EXPECT_GT(v4l2va::test::open_fd_count(), fds_before);  // the context's video, media and request fds
  EXPECT_EQ(vaTerminate(display), VA_STATUS_SUCCESS);
  display = nullptr;
  EXPECT_EQ(v4l2va::test::open_fd_count(), fds_before);
}

}  // namespace
