// A client that calls VA-API wrongly gets a clear status and nothing else:
// no crash, no memory error (this binary also runs under ASan+UBSan), no
// leaked fd, and the context still decodes afterwards. One test per misuse.
#include <sys/resource.h>
#include <sys/wait.h>
#include <va/va_drmcommon.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "emulated_device.h"
#include "va_fixture.h"

namespace {

using v4l2va::test::kFirstPictureNv12Md5;

class VaMisuseTest : public v4l2va::test::DecodeFixture {
 protected:
  VASurfaceID new_surface(unsigned width = 176, unsigned height = 144) {
    VASurfaceID s = VA_INVALID_SURFACE;
    EXPECT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, width, height, &s, 1, nullptr, 0), VA_STATUS_SUCCESS);
    return s;
  }
  VABufferID new_buffer(VABufferType type, unsigned size, unsigned count, const void* data) {
    VABufferID id = VA_INVALID_ID;
    EXPECT_EQ(vaCreateBuffer(display, context, type, size, count, const_cast<void*>(data), &id), VA_STATUS_SUCCESS);
    return id;
  }
  static long rss_kb() {
    std::ifstream status("/proc/self/status");
    std::string key;
    long value = 0;
    while (status >> key) {
      if (key == "VmRSS:") {
        status >> value;
        return value;
      }
      status.ignore(1 << 12, '\n');
    }
    return 0;
  }
};

TEST_F(VaMisuseTest, SurfaceLargerThanTheContextsBuffersIsRefused) {
  const VASurfaceID big = new_surface(1920, 1088);
  // Binding it would let images and exports reach past the 176x144 buffers.
  EXPECT_EQ(vaBeginPicture(display, context, big), VA_STATUS_ERROR_INVALID_SURFACE);
  VAImageFormat nv12{VA_FOURCC_NV12, VA_LSB_FIRST, 12, 0, 0, 0, 0, 0, {}};
  VAImage image;
  ASSERT_EQ(vaCreateImage(display, &nv12, 1920, 1088, &image), VA_STATUS_SUCCESS);
  // Never bound, nothing decoded: nothing to read.
  EXPECT_EQ(vaGetImage(display, big, 0, 0, 1920, 1088, image.image_id), VA_STATUS_ERROR_INVALID_SURFACE);
  // Its derived image is a copy of its own size.
  VAImage derived;
  ASSERT_EQ(vaDeriveImage(display, big, &derived), VA_STATUS_SUCCESS);
  EXPECT_EQ(derived.width, 1920);
  vaDestroyImage(display, derived.image_id);
  // No context of the client can hold it: the export gets memory from the
  // driver's staging context, sized to the surface, and reads stay inside.
  VADRMPRIMESurfaceDescriptor desc{};
  ASSERT_EQ(vaExportSurfaceHandle(display, big, VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2,
                                  VA_EXPORT_SURFACE_READ_ONLY | VA_EXPORT_SURFACE_COMPOSED_LAYERS, &desc),
            VA_STATUS_SUCCESS);
  EXPECT_GE(desc.objects[0].size, 1920u * 1088u * 3 / 2);
  close(desc.objects[0].fd);
  EXPECT_EQ(vaGetImage(display, big, 0, 0, 1920, 1088, image.image_id), VA_STATUS_SUCCESS);
  vaDestroyImage(display, image.image_id);
  EXPECT_EQ(vaBeginPicture(display, context, big), VA_STATUS_ERROR_INVALID_SURFACE);
  vaDestroySurfaces(display, const_cast<VASurfaceID*>(&big), 1);
  // The context is unharmed.
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
  EXPECT_EQ(surface_md5(), kFirstPictureNv12Md5);
}

TEST_F(VaMisuseTest, BufferSizesAreBounded) {
  VASliceParameterBufferH264 sp{};
  VABufferID id = new_buffer(VASliceParameterBufferType, sizeof(sp), 1, &sp);
  EXPECT_EQ(vaBufferSetNumElements(display, id, 0xffffffffu), VA_STATUS_ERROR_ALLOCATION_FAILED);
  EXPECT_EQ(vaBufferSetNumElements(display, id, 0), VA_STATUS_ERROR_INVALID_PARAMETER);
  EXPECT_EQ(vaBufferSetNumElements(display, id, 4), VA_STATUS_SUCCESS);
  vaDestroyBuffer(display, id);
  VABufferID huge;
  EXPECT_EQ(vaCreateBuffer(display, context, VASliceDataBufferType, 1u << 20, 1u << 20, nullptr, &huge),
            VA_STATUS_ERROR_ALLOCATION_FAILED);
}

TEST_F(VaMisuseTest, SliceDataIsNotCopiedPerSliceParameter) {
  // 64 slice parameters all naming the whole of one 16 MiB data buffer.
  const unsigned kData = 16u << 20, kSlices = 64;
  std::vector<uint8_t> bytes(kData, 0x41);
  std::vector<VASliceParameterBufferH264> params(kSlices);
  for (auto& p : params) {
    p.slice_data_size = kData;
    p.slice_data_flag = VA_SLICE_DATA_FLAG_ALL;
  }
  VAPictureParameterBufferH264 pic = idr_picture(surface);
  VABufferID bufs[3] = {new_buffer(VAPictureParameterBufferType, sizeof(pic), 1, &pic),
                        new_buffer(VASliceParameterBufferType, sizeof(params[0]), kSlices, params.data()),
                        new_buffer(VASliceDataBufferType, kData, 1, bytes.data())};
  bytes = {};
  const long before = rss_kb();
  ASSERT_EQ(vaBeginPicture(display, context, surface), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaRenderPicture(display, context, bufs, 3), VA_STATUS_SUCCESS);
  const long grown_mib = (rss_kb() - before) / 1024;
  std::printf("RSS grew %ld MiB rendering %u slices of one %u MiB buffer\n", grown_mib, kSlices, kData >> 20);
  EXPECT_LT(grown_mib, 16) << "slice data copied per slice parameter";
  // Not a picture (and larger than the OUTPUT buffer): refused, nothing queued.
  EXPECT_NE(vaEndPicture(display, context), VA_STATUS_SUCCESS);
  for (VABufferID b : bufs) vaDestroyBuffer(display, b);
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
}

TEST_F(VaMisuseTest, AnAllocationFailureIsAStatusNotAnAbort) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizers' allocators abort on failure by design";
#else
  // In a child whose address space is nearly full, a 100 MiB buffer cannot
  // be allocated: std::bad_alloc must not cross the C ABI.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rlimit limit{};
    std::ifstream statm("/proc/self/statm");
    unsigned long pages = 0;
    statm >> pages;
    limit.rlim_cur = limit.rlim_max = pages * 4096ul + (48ul << 20);
    setrlimit(RLIMIT_AS, &limit);
    VABufferID id;
    VAStatus st = vaCreateBuffer(display, context, VASliceDataBufferType, 100u << 20, 1, nullptr, &id);
    _exit(st == VA_STATUS_ERROR_ALLOCATION_FAILED ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died: the exception escaped";
  EXPECT_EQ(WEXITSTATUS(status), 0);
#endif
}

TEST_F(VaMisuseTest, DestroyingTheTargetBetweenBeginAndEndDropsThePicture) {
  const VASurfaceID target = new_surface();
  VAPictureParameterBufferH264 pic = idr_picture(target);
  VABufferID params = new_buffer(VAPictureParameterBufferType, sizeof(pic), 1, &pic);
  ASSERT_EQ(vaBeginPicture(display, context, target), VA_STATUS_SUCCESS);
  ASSERT_EQ(vaRenderPicture(display, context, &params, 1), VA_STATUS_SUCCESS);
  VASurfaceID doomed = target;
  ASSERT_EQ(vaDestroySurfaces(display, &doomed, 1), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaEndPicture(display, context), VA_STATUS_ERROR_OPERATION_FAILED);
  vaDestroyBuffer(display, params);
  // The destroyed surface's CAPTURE buffer goes to the next surface; it was
  // never queued, so decoding into it works (the earlier driver's QBUF EINVAL).
  const VASurfaceID next = new_surface();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(decode_into(context, next, slice), VA_STATUS_SUCCESS);
    ASSERT_EQ(vaSyncSurface(display, next), VA_STATUS_SUCCESS);
  }
  EXPECT_EQ(surface_md5_of(next), kFirstPictureNv12Md5);
  VASurfaceID gone = next;
  vaDestroySurfaces(display, &gone, 1);
}

TEST_F(VaMisuseTest, NullOutputPointersAreRefused) {
  EXPECT_NE(vaRenderPicture(display, context, nullptr, 1), VA_STATUS_SUCCESS);
  EXPECT_NE(vaExportSurfaceHandle(display, surface, VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2, 0, nullptr),
            VA_STATUS_SUCCESS);
  EXPECT_NE(vaQuerySurfaceStatus(display, surface, nullptr), VA_STATUS_SUCCESS);
  EXPECT_NE(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, nullptr, 1, nullptr, 0), VA_STATUS_SUCCESS);
  EXPECT_NE(vaCreateBuffer(display, context, VASliceDataBufferType, 16, 1, nullptr, nullptr), VA_STATUS_SUCCESS);
  VABufferID id = new_buffer(VASliceDataBufferType, 16, 1, nullptr);
  EXPECT_NE(vaMapBuffer(display, id, nullptr), VA_STATUS_SUCCESS);
  EXPECT_NE(vaQuerySurfaceError(display, surface, VA_STATUS_ERROR_DECODING_ERROR, nullptr), VA_STATUS_SUCCESS);
  vaDestroyBuffer(display, id);
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
}

TEST_F(VaMisuseTest, CallsOutOfOrderHaveTheirOwnStatus) {
  EXPECT_EQ(vaEndPicture(display, context), VA_STATUS_ERROR_OPERATION_FAILED);
  VAPictureParameterBufferH264 pic = idr_picture(surface);
  VABufferID params = new_buffer(VAPictureParameterBufferType, sizeof(pic), 1, &pic);
  EXPECT_EQ(vaRenderPicture(display, context, &params, 1), VA_STATUS_ERROR_OPERATION_FAILED);
  ASSERT_EQ(vaBeginPicture(display, context, surface), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaRenderPicture(display, context, &params, -1), VA_STATUS_ERROR_INVALID_PARAMETER);
  EXPECT_EQ(vaEndPicture(display, context), VA_STATUS_ERROR_INVALID_PARAMETER);  // no slices
  vaDestroyBuffer(display, params);
  // Decode buffers belong to a context: a config ID is not one.
  VABufferID orphan;
  EXPECT_EQ(vaCreateBuffer(display, config, VAPictureParameterBufferType, sizeof(pic), 1, &pic, &orphan),
            VA_STATUS_ERROR_INVALID_CONTEXT);
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
}

TEST_F(VaMisuseTest, PictureLargerThanTheContextIsRefused) {
  VAPictureParameterBufferH264 pic = idr_picture(surface);
  pic.picture_width_in_mbs_minus1 = 119;  // 1920 wide, in a 176x144 context
  pic.picture_height_in_mbs_minus1 = 67;
  VASliceParameterBufferH264 sp{};
  sp.slice_data_size = uint32_t(slice.size());
  sp.slice_type = 2;
  VABufferID bufs[3] = {new_buffer(VAPictureParameterBufferType, sizeof(pic), 1, &pic),
                        new_buffer(VASliceParameterBufferType, sizeof(sp), 1, &sp),
                        new_buffer(VASliceDataBufferType, uint32_t(slice.size()), 1, slice.data())};
  ASSERT_EQ(vaBeginPicture(display, context, surface), VA_STATUS_SUCCESS);
  ASSERT_EQ(vaRenderPicture(display, context, bufs, 3), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaEndPicture(display, context), VA_STATUS_ERROR_RESOLUTION_NOT_SUPPORTED);
  for (VABufferID b : bufs) vaDestroyBuffer(display, b);
}

TEST_F(VaMisuseTest, AReferenceThatWasNeverDecodedIsConcealedNotRefused) {
  // A client lists a surface with no picture (ffmpeg does so after a gap in
  // frame_num or a lost slice). The picture is queued; its damage is known.
  const VASurfaceID never = new_surface();
  VAPictureParameterBufferH264 pic = idr_picture(surface);
  pic.ReferenceFrames[0].picture_id = never;
  pic.ReferenceFrames[0].flags = VA_PICTURE_H264_SHORT_TERM_REFERENCE;
  pic.ReferenceFrames[0].frame_idx = 0;
  VASliceParameterBufferH264 sp{};
  sp.slice_data_size = uint32_t(slice.size());
  sp.slice_type = 2;
  VABufferID bufs[3] = {new_buffer(VAPictureParameterBufferType, sizeof(pic), 1, &pic),
                        new_buffer(VASliceParameterBufferType, sizeof(sp), 1, &sp),
                        new_buffer(VASliceDataBufferType, uint32_t(slice.size()), 1, slice.data())};
  ASSERT_EQ(vaBeginPicture(display, context, surface), VA_STATUS_SUCCESS);
  ASSERT_EQ(vaRenderPicture(display, context, bufs, 3), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaEndPicture(display, context), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
  void* info = nullptr;
  ASSERT_EQ(vaQuerySurfaceError(display, surface, VA_STATUS_ERROR_DECODING_ERROR, &info), VA_STATUS_SUCCESS);
  EXPECT_EQ(static_cast<VASurfaceDecodeMBErrors*>(info)[0].status, 1);
  for (VABufferID b : bufs) vaDestroyBuffer(display, b);
  VASurfaceID gone = never;
  vaDestroySurfaces(display, &gone, 1);
}

TEST_F(VaMisuseTest, DestroyingTheContextWithPicturesInFlightDrainsThem) {
  const int fds_before = v4l2va::test::open_fd_count();
  VAContextID second;
  VASurfaceID targets[4];
  ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, targets, 4, nullptr, 0), VA_STATUS_SUCCESS);
  ASSERT_EQ(vaCreateContext(display, config, 176, 144, VA_PROGRESSIVE, targets, 4, &second), VA_STATUS_SUCCESS);
  for (VASurfaceID t : targets) ASSERT_EQ(decode_into(second, t, slice), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaDestroyContext(display, second), VA_STATUS_SUCCESS);
  // Unbound now; a later context can take them.
  EXPECT_EQ(vaSyncSurface(display, targets[0]), VA_STATUS_SUCCESS);
  vaDestroySurfaces(display, targets, 4);
  EXPECT_EQ(v4l2va::test::open_fd_count(), fds_before);
}

}  // namespace
