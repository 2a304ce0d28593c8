// One picture decoded through the VA API by hand, the way a client drives
// it, against the emulated decoder: a real IDR slice from the ITU-T stream
// BA1_Sony_D decodes to the reference picture, and a damaged one is reported
// as a decoding error on sync and through vaQuerySurfaceError.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <va/va.h>
#include <va/va_drm.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

// MD5 of the first picture of BA1_Sony_D as NV12 (176x144), from FFmpeg's
// software decoder: ffmpeg -i BA1_Sony_D.jsv -frames:v 1 -pix_fmt nv12 -f rawvideo - | md5sum
constexpr const char* kFirstPictureNv12Md5 = "5be69248e9b2c2aafc71fd6a55590b83";

std::vector<uint8_t> first_idr_nal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t start = 0;
  for (size_t i = 0; i + 3 < data.size(); ++i) {
    if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
      if (start && (data[start] & 0x1f) == 5) {
        size_t end = i;
        while (end > start && data[end - 1] == 0) --end;
        return {data.begin() + long(start), data.begin() + long(end)};
      }
      start = i + 3;
    }
  }
  return {};
}

// A minimal MD5 (RFC 1321) so the test needs no crypto library.
std::string md5_hex(const uint8_t* msg, size_t len) {
  static const uint32_t k[64] = {
      0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
      0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
      0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
      0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
      0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
      0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
      0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
      0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
  static const uint32_t r[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
  uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  std::vector<uint8_t> m(msg, msg + len);
  m.push_back(0x80);
  while (m.size() % 64 != 56) m.push_back(0);
  uint64_t bits = uint64_t(len) * 8;
  for (int i = 0; i < 8; ++i) m.push_back(uint8_t(bits >> (8 * i)));
  for (size_t off = 0; off < m.size(); off += 64) {
    uint32_t w[16];
    for (int i = 0; i < 16; ++i)
      w[i] = uint32_t(m[off + 4 * i]) | uint32_t(m[off + 4 * i + 1]) << 8 | uint32_t(m[off + 4 * i + 2]) << 16 |
             uint32_t(m[off + 4 * i + 3]) << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (uint32_t i = 0; i < 64; ++i) {
      uint32_t f, g;
      if (i < 16) f = (b & c) | (~b & d), g = i;
      else if (i < 32) f = (d & b) | (~d & c), g = (5 * i + 1) % 16;
      else if (i < 48) f = b ^ c ^ d, g = (3 * i + 5) % 16;
      else f = c ^ (b | ~d), g = (7 * i) % 16;
      uint32_t t = d;
      d = c;
      c = b;
      uint32_t x = a + f + k[i] + w[g];
      b = b + ((x << r[i]) | (x >> (32 - r[i])));
      a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
  }
  char out[33];
  for (int i = 0; i < 16; ++i) std::snprintf(out + 2 * i, 3, "%02x", (h[i / 4] >> (8 * (i % 4))) & 0xff);
  return out;
}

class VaDecodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("CONFORMANCE_DIR");
    ASSERT_NE(dir, nullptr);
    slice = first_idr_nal(std::string(dir) + "/streams/BA1_Sony_D.jsv");
    ASSERT_GT(slice.size(), 100u);
    fd = open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    display = vaGetDisplayDRM(fd);
    int major, minor;
    ASSERT_EQ(vaInitialize(display, &major, &minor), VA_STATUS_SUCCESS);
    ASSERT_EQ(vaCreateConfig(display, VAProfileH264ConstrainedBaseline, VAEntrypointVLD, nullptr, 0, &config),
              VA_STATUS_SUCCESS);
    ASSERT_EQ(vaCreateSurfaces(display, VA_RT_FORMAT_YUV420, 176, 144, &surface, 1, nullptr, 0), VA_STATUS_SUCCESS);
    ASSERT_EQ(vaCreateContext(display, config, 176, 144, VA_PROGRESSIVE, &surface, 1, &context), VA_STATUS_SUCCESS);
  }
  void TearDown() override {
    vaDestroyContext(display, context);
    vaDestroySurfaces(display, &surface, 1);
    vaDestroyConfig(display, config);
    vaTerminate(display);
    close(fd);
  }

  // The parameters BA1_Sony_D's SPS/PPS carry, as a VA client fills them.
  VAStatus decode(const std::vector<uint8_t>& nal) {
    VAPictureParameterBufferH264 pic{};
    pic.CurrPic.picture_id = surface;
    for (auto& ref : pic.ReferenceFrames) {
      ref.picture_id = VA_INVALID_SURFACE;
      ref.flags = VA_PICTURE_H264_INVALID;
    }
    pic.picture_width_in_mbs_minus1 = 10;
    pic.picture_height_in_mbs_minus1 = 8;
    pic.num_ref_frames = 1;
    pic.seq_fields.bits.chroma_format_idc = 1;
    pic.seq_fields.bits.frame_mbs_only_flag = 1;
    pic.seq_fields.bits.direct_8x8_inference_flag = 1;
    pic.seq_fields.bits.log2_max_frame_num_minus4 = 12;
    pic.seq_fields.bits.log2_max_pic_order_cnt_lsb_minus4 = 12;
    pic.pic_init_qp_minus26 = 2;
    pic.pic_init_qs_minus26 = -10;
    pic.pic_fields.bits.deblocking_filter_control_present_flag = 1;
    pic.pic_fields.bits.reference_pic_flag = 1;

    VASliceParameterBufferH264 sp{};
    sp.slice_data_size = uint32_t(nal.size());
    sp.slice_data_flag = VA_SLICE_DATA_FLAG_ALL;
    sp.slice_type = 2;
    for (auto& ref : sp.RefPicList0) ref.picture_id = VA_INVALID_SURFACE, ref.flags = VA_PICTURE_H264_INVALID;
    for (auto& ref : sp.RefPicList1) ref.picture_id = VA_INVALID_SURFACE, ref.flags = VA_PICTURE_H264_INVALID;

    VABufferID bufs[3];
    EXPECT_EQ(vaCreateBuffer(display, context, VAPictureParameterBufferType, sizeof(pic), 1, &pic, &bufs[0]),
              VA_STATUS_SUCCESS);
    EXPECT_EQ(vaCreateBuffer(display, context, VASliceParameterBufferType, sizeof(sp), 1, &sp, &bufs[1]),
              VA_STATUS_SUCCESS);
    EXPECT_EQ(vaCreateBuffer(display, context, VASliceDataBufferType, uint32_t(nal.size()), 1,
                             const_cast<uint8_t*>(nal.data()), &bufs[2]),
              VA_STATUS_SUCCESS);
    VAStatus st = vaBeginPicture(display, context, surface);
    if (st == VA_STATUS_SUCCESS) st = vaRenderPicture(display, context, bufs, 3);
    if (st == VA_STATUS_SUCCESS) st = vaEndPicture(display, context);
    for (VABufferID b : bufs) vaDestroyBuffer(display, b);
    return st;
  }

  std::string surface_md5() {
    VAImage image;
    EXPECT_EQ(vaDeriveImage(display, surface, &image), VA_STATUS_SUCCESS);
    void* ptr = nullptr;
    EXPECT_EQ(vaMapBuffer(display, image.buf, &ptr), VA_STATUS_SUCCESS);
    std::vector<uint8_t> nv12;
    auto* base = static_cast<uint8_t*>(ptr);
    for (int y = 0; y < 144; ++y) nv12.insert(nv12.end(), base + image.offsets[0] + y * image.pitches[0],
                                              base + image.offsets[0] + y * image.pitches[0] + 176);
    for (int y = 0; y < 72; ++y) nv12.insert(nv12.end(), base + image.offsets[1] + y * image.pitches[1],
                                             base + image.offsets[1] + y * image.pitches[1] + 176);
    vaUnmapBuffer(display, image.buf);
    vaDestroyImage(display, image.image_id);
    return md5_hex(nv12.data(), nv12.size());
  }

  std::vector<uint8_t> slice;
  int fd = -1;
  VADisplay display = nullptr;
  VAConfigID config = VA_INVALID_ID;
  VASurfaceID surface = VA_INVALID_SURFACE;
  VAContextID context = VA_INVALID_ID;
};

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
