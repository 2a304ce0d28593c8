// Against a device that takes 300 ms per picture (V4L2_EMU_DECODE_US, set by
// the meson test that runs these): status queries never wait and tell the
// truth, and a client's own timeout is honoured without harm to the picture.
#include "va_fixture.h"

namespace {

using v4l2va::test::kFirstPictureNv12Md5;
using VaSlowDevice = v4l2va::test::DecodeFixture;

TEST_F(VaSlowDevice, QuerySurfaceStatusDoesNotWaitAndSaysRendering) {
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  VASurfaceStatus status = VASurfaceReady;
  ASSERT_EQ(vaQuerySurfaceStatus(display, surface, &status), VA_STATUS_SUCCESS);
  // Had it waited for the picture, it would say Ready.
  EXPECT_EQ(status, VASurfaceRendering);
  ASSERT_EQ(vaSyncSurface(display, surface), VA_STATUS_SUCCESS);
  ASSERT_EQ(vaQuerySurfaceStatus(display, surface, &status), VA_STATUS_SUCCESS);
  EXPECT_EQ(status, VASurfaceReady);
  EXPECT_EQ(surface_md5(), kFirstPictureNv12Md5);
}

TEST_F(VaSlowDevice, SyncSurface2HonoursTheClientsTimeout) {
  ASSERT_EQ(decode(slice), VA_STATUS_SUCCESS);
  EXPECT_EQ(vaSyncSurface2(display, surface, 1000000 /* 1 ms */), VA_STATUS_ERROR_TIMEDOUT);
  // Nothing was reset: the picture completes and is right.
  ASSERT_EQ(vaSyncSurface2(display, surface, VA_TIMEOUT_INFINITE), VA_STATUS_SUCCESS);
  EXPECT_EQ(surface_md5(), kFirstPictureNv12Md5);
}

}  // namespace
