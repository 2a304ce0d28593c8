// One picture decoded through the VA API by hand, the way a client drives
// it, against the emulated decoder: a real IDR slice from the ITU-T stream
// BA1_Sony_D decodes to the reference picture, and a damaged one is reported
// as a decoding error on sync and through vaQuerySurfaceError.
#include <sys/mman.h>
#include <va/va_drmcommon.h>

#include "va_fixture.h"

namespace {

using VaDecodeTest = v4l2va::test::DecodeFixture;
using v4l2va::test::kFirstPictureNv12Md5;

TEST_F(VaDecodeTest, RealIdrSliceDecodesToTheReferencePicture) {
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  ASSERT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
  VASurfaceStatus status;
  EXPECT_EQ(vaQuerySurfaceStatus(display, surface, &status), VA_STATUS_SUCCESS);
  EXPECT_EQ(status, VASurfaceReady);
  EXPECT_EQ(surface_md5(), kFirstPictureNv12Md5);
  // The surface can be decoded into again at once: its buffer was drained.
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
  EXPECT_EQ(surface_md5(), kFirstPictureNv12Md5);
}

TEST_F(VaDecodeTest, SurfaceIsDrainedBeforeItIsDecodedIntoAgain) {
  // No sync in between: the driver must take the CAPTURE buffer back from
  // the device before queueing it again (QBUF of a queued buffer is EINVAL).
  for (int i = 0; i < 8; ++i) ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS) << "picture " << i;
  ASSERT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
  EXPECT_EQ(surface_md5(), kFirstPictureNv12Md5);
}

TEST_F(VaDecodeTest, GetImageCopiesAnyRectangleInEachFormat) {
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  ASSERT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
  VAImage derived;
  ASSERT_EQ(vaDeriveImage(display, surface, &derived), VA_STATUS_SUCCESS);
  void* dptr = nullptr;
  ASSERT_EQ(vaMapBuffer(display, derived.buf, &dptr), VA_STATUS_SUCCESS);
  const auto* src = static_cast<const uint8_t*>(dptr);
  const int x = 32, y = 16, w = 64, h = 48;
  for (uint32_t fourcc : {VA_FOURCC_NV12, VA_FOURCC_I420, VA_FOURCC_YV12}) {
    VAImageFormat format{fourcc, VA_LSB_FIRST, 12, 0, 0, 0, 0, 0, {}};
    VAImage image;
    ASSERT_EQ(vaCreateImage(display, &format, w, h, &image), VA_STATUS_SUCCESS);
    ASSERT_EQ(vaGetImage(display, surface, x, y, w, h, image.image_id), VA_STATUS_SUCCESS);
    void* ptr = nullptr;
    ASSERT_EQ(vaMapBuffer(display, image.buf, &ptr), VA_STATUS_SUCCESS);
    const auto* dst = static_cast<const uint8_t*>(ptr);
    int mismatches = 0;
    for (int row = 0; row < h; ++row)
      for (int col = 0; col < w; ++col)
        mismatches += dst[image.offsets[0] + row * image.pitches[0] + col] !=
                      src[derived.offsets[0] + (y + row) * derived.pitches[0] + x + col];
    for (int row = 0; row < h / 2; ++row) {
      for (int col = 0; col < w / 2; ++col) {
        const uint8_t* uv = src + derived.offsets[1] + (y / 2 + row) * derived.pitches[1] + x + 2 * col;
        uint8_t u, v;
        if (fourcc == VA_FOURCC_NV12) {
          u = dst[image.offsets[1] + row * image.pitches[1] + 2 * col];
          v = dst[image.offsets[1] + row * image.pitches[1] + 2 * col + 1];
        } else {
          int up = fourcc == VA_FOURCC_I420 ? 1 : 2, vp = 3 - up;
          u = dst[image.offsets[up] + row * image.pitches[up] + col];
          v = dst[image.offsets[vp] + row * image.pitches[vp] + col];
        }
        mismatches += (u != uv[0]) + (v != uv[1]);
      }
    }
    EXPECT_EQ(mismatches, 0) << "format " << std::hex << fourcc;
    vaUnmapBuffer(display, image.buf);
    vaDestroyImage(display, image.image_id);
  }
  vaUnmapBuffer(display, derived.buf);
  vaDestroyImage(display, derived.image_id);
}

TEST_F(VaDecodeTest, DamagedSliceSyncsAndIsReportedByQuerySurfaceError) {
  // docs/design.md, "Damaged streams": players go on; the damage is known.
  std::vector<uint8_t> damaged(slice.begin(), slice.begin() + long(slice.size() / 3));  // truncated
  ASSERT_EQ(decode(damaged), VA_STATUS_SUCCESS);  // queued; the device finds out
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
  void* info = nullptr;
  ASSERT_EQ(vaQuerySurfaceError(display, surface, VA_STATUS_ERROR_DECODING_ERROR, &info), VA_STATUS_SUCCESS);
  auto* errors = static_cast<VASurfaceDecodeMBErrors*>(info);
  EXPECT_EQ(errors[0].status, 1);
  EXPECT_EQ(errors[0].end_mb, 11u * 9u - 1u);
  EXPECT_EQ(errors[0].decode_error_type, VADecodeMBError);
  EXPECT_EQ(errors[1].status, -1);
  // The next good picture clears the error.
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
  ASSERT_EQ(vaQuerySurfaceError(display, surface, VA_STATUS_ERROR_DECODING_ERROR, &info), VA_STATUS_SUCCESS);
  EXPECT_EQ(static_cast<VASurfaceDecodeMBErrors*>(info)[0].status, -1);
}

TEST_F(VaDecodeTest, DamagedSliceIsADecodingErrorOnSyncWhenAsked) {
  TearDown();
  setenv("LIBVA_V4L2_REQUEST_SYNC_ERRORS", "1", 1);
  SetUp();
  unsetenv("LIBVA_V4L2_REQUEST_SYNC_ERRORS");
  std::vector<uint8_t> damaged(slice.begin(), slice.begin() + long(slice.size() / 3));
  ASSERT_EQ(decode(damaged), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_ERROR_DECODING_ERROR);
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
}

TEST_F(VaDecodeTest, MalformedSliceHeaderIsRejectedBeforeTheDevice) {
  std::vector<uint8_t> garbage = {0x65, 0xff};  // IDR NAL header, then a header that cannot parse
  EXPECT_EQ(decode(garbage), VA_STATUS_ERROR_INVALID_PARAMETER);
  // Nothing was queued: the surface syncs at once.
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
}

}  // namespace

namespace {

// Chromium's pattern: a context with no render targets, every surface
// exported before its first decode; the dma-bufs exported first must show
// what later decodes write.
TEST_F(VaDecodeTest, SurfacesExportedBeforeTheirFirstDecodeShowTheirPictures) {
  VAContextID early_context;
  ASSERT_EQ(vaCreateContext(display, config, 176, 144, VA_PROGRESSIVE, nullptr, 0, &early_context), VA_STATUS_SUCCESS);
  constexpr int kSurfaces = 4;
  VASurfaceID surfaces[kSurfaces];
  ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, surfaces, kSurfaces, nullptr, 0),
            VA_STATUS_SUCCESS);
  VADRMPRIMESurfaceDescriptor desc[kSurfaces];
  for (int i = 0; i < kSurfaces; ++i)
    ASSERT_EQ(vaExportSurfaceHandle(display, surfaces[i], VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2,
                                    VA_EXPORT_SURFACE_READ_ONLY | VA_EXPORT_SURFACE_COMPOSED_LAYERS, &desc[i]),
              VA_STATUS_SUCCESS);
  for (int i = 0; i < kSurfaces; ++i) {
    ASSERT_EQ(decode_into(early_context, surfaces[i], slice), VA_STATUS_SUCCESS);
    ASSERT_EQ(vaSyncSurface(display, surfaces[i]), VA_STATUS_SUCCESS);
  }
  for (int i = 0; i < kSurfaces; ++i) {
    ASSERT_EQ(desc[i].num_objects, 1u);
    const size_t size = desc[i].objects[0].size;
    void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, desc[i].objects[0].fd, 0);
    ASSERT_NE(map, MAP_FAILED);
    const auto* base = static_cast<const uint8_t*>(map);
    std::vector<uint8_t> nv12;
    const auto& layer = desc[i].layers[0];
    for (int y = 0; y < 144; ++y)
      nv12.insert(nv12.end(), base + layer.offset[0] + y * layer.pitch[0], base + layer.offset[0] + y * layer.pitch[0] + 176);
    for (int y = 0; y < 72; ++y)
      nv12.insert(nv12.end(), base + layer.offset[1] + y * layer.pitch[1], base + layer.offset[1] + y * layer.pitch[1] + 176);
    munmap(map, size);
    close(desc[i].objects[0].fd);
    EXPECT_EQ(v4l2va::test::md5_hex(nv12.data(), nv12.size()), kFirstPictureNv12Md5) << "surface " << i;
  }
  vaDestroySurfaces(display, surfaces, kSurfaces);
  vaDestroyContext(display, early_context);
}

}  // namespace

namespace {

std::string exported_md5(const VADRMPRIMESurfaceDescriptor& desc) {
  const size_t size = desc.objects[0].size;
  void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, desc.objects[0].fd, 0);
  if (map == MAP_FAILED) return "mmap failed";
  const auto* base = static_cast<const uint8_t*>(map);
  const auto& layer = desc.layers[0];
  std::vector<uint8_t> nv12;
  for (int y = 0; y < 144; ++y)
    nv12.insert(nv12.end(), base + layer.offset[0] + y * layer.pitch[0], base + layer.offset[0] + y * layer.pitch[0] + 176);
  for (int y = 0; y < 72; ++y)
    nv12.insert(nv12.end(), base + layer.offset[1] + y * layer.pitch[1], base + layer.offset[1] + y * layer.pitch[1] + 176);
  munmap(map, size);
  return v4l2va::test::md5_hex(nv12.data(), nv12.size());
}

// mpv maps the last frame again after closing its decoder: a surface keeps
// its picture when its context goes.
TEST_F(VaDecodeTest, ASurfaceKeepsItsPictureWhenItsContextGoes) {
  VAContextID short_lived;
  VASurfaceID target;
  ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, &target, 1, nullptr, 0), VA_STATUS_SUCCESS);
  ASSERT_EQ(vaCreateContext(display, config, 176, 144, VA_PROGRESSIVE, &target, 1, &short_lived), VA_STATUS_SUCCESS);
  ASSERT_EQ(decode_into(short_lived, target, slice), VA_STATUS_SUCCESS);
  ASSERT_EQ(vaDestroyContext(display, short_lived), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, target), VA_STATUS_SUCCESS);
  EXPECT_EQ(surface_md5_of(target), kFirstPictureNv12Md5);  // DeriveImage: a copy of the kept picture
  VAImageFormat nv12{VA_FOURCC_NV12, VA_LSB_FIRST, 12, 0, 0, 0, 0, 0, {}};
  VAImage image;
  ASSERT_EQ(vaCreateImage(display, &nv12, 176, 144, &image), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaGetImage(display, target, 0, 0, 176, 144, image.image_id), VA_STATUS_SUCCESS);
  vaDestroyImage(display, image.image_id);
  VADRMPRIMESurfaceDescriptor desc;
  ASSERT_EQ(vaExportSurfaceHandle(display, target, VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2,
                                  VA_EXPORT_SURFACE_READ_ONLY | VA_EXPORT_SURFACE_COMPOSED_LAYERS, &desc),
            VA_STATUS_SUCCESS);
  EXPECT_EQ(exported_md5(desc), kFirstPictureNv12Md5);
  close(desc.objects[0].fd);
  // A new context can take the surface and decode into it again.
  ASSERT_EQ(decode_into(context, target, slice), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, target), VA_STATUS_SUCCESS);
  EXPECT_EQ(surface_md5_of(target), kFirstPictureNv12Md5);
  vaDestroySurfaces(display, &target, 1);
}

// mpv's format probe exports a fresh surface before any context can hold
// it; a client's context created afterwards takes such a surface over.
TEST_F(VaDecodeTest, ASurfaceCanBeExportedBeforeAnyContextCanHoldIt) {
  VASurfaceID probe;
  ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 320, 240, &probe, 1, nullptr, 0), VA_STATUS_SUCCESS);
  VADRMPRIMESurfaceDescriptor desc;
  ASSERT_EQ(vaExportSurfaceHandle(display, probe, VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2,
                                  VA_EXPORT_SURFACE_READ_ONLY | VA_EXPORT_SURFACE_SEPARATE_LAYERS, &desc),
            VA_STATUS_SUCCESS);
  EXPECT_EQ(desc.fourcc, static_cast<uint32_t>(VA_FOURCC_NV12));
  EXPECT_GE(desc.layers[0].pitch[0], 320u);
  for (uint32_t i = 0; i < desc.num_objects; ++i) close(desc.objects[i].fd);
  VAContextID later;
  ASSERT_EQ(vaCreateContext(display, config, 320, 240, VA_PROGRESSIVE, &probe, 1, &later), VA_STATUS_SUCCESS);
  vaDestroyContext(display, later);
  vaDestroySurfaces(display, &probe, 1);
}

}  // namespace
