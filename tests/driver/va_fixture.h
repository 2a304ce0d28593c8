// The fixture of the tests that decode through the VA API by hand, the way a
// client drives it, against the emulated decoder: the first IDR slice of the
// ITU-T stream BA1_Sony_D and the parameters its SPS/PPS carry.
#pragma once

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

namespace v4l2va::test {


// MD5 of the first picture of BA1_Sony_D as NV12 (176x144), from FFmpeg's
// software decoder: ffmpeg -i BA1_Sony_D.jsv -frames:v 1 -pix_fmt nv12 -f rawvideo - | md5sum
inline constexpr const char* kFirstPictureNv12Md5 = "5be69248e9b2c2aafc71fd6a55590b83";

inline std::vector<uint8_t> first_idr_nal(const std::string& path) {
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
inline std::string md5_hex(const uint8_t* msg, size_t len) {
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

class DecodeFixture : public ::testing::Test {
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
  static VAPictureParameterBufferH264 idr_picture(VASurfaceID target) {
    VAPictureParameterBufferH264 pic{};
    pic.CurrPic.picture_id = target;
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
    return pic;
  }

  VAStatus decode(const std::vector<uint8_t>& nal) { return decode_into(context, surface, nal); }

  VAStatus decode_into(VAContextID ctx, VASurfaceID target, const std::vector<uint8_t>& nal) {
    VAPictureParameterBufferH264 pic = idr_picture(target);
    VASliceParameterBufferH264 sp{};
    sp.slice_data_size = uint32_t(nal.size());
    sp.slice_data_flag = VA_SLICE_DATA_FLAG_ALL;
    sp.slice_type = 2;
    for (auto& ref : sp.RefPicList0) ref.picture_id = VA_INVALID_SURFACE, ref.flags = VA_PICTURE_H264_INVALID;
    for (auto& ref : sp.RefPicList1) ref.picture_id = VA_INVALID_SURFACE, ref.flags = VA_PICTURE_H264_INVALID;

    VABufferID bufs[3];
    EXPECT_EQ(vaCreateBuffer(display, ctx, VAPictureParameterBufferType, sizeof(pic), 1, &pic, &bufs[0]),
              VA_STATUS_SUCCESS);
    EXPECT_EQ(vaCreateBuffer(display, ctx, VASliceParameterBufferType, sizeof(sp), 1, &sp, &bufs[1]),
              VA_STATUS_SUCCESS);
    EXPECT_EQ(vaCreateBuffer(display, ctx, VASliceDataBufferType, uint32_t(nal.size()), 1,
                             const_cast<uint8_t*>(nal.data()), &bufs[2]),
              VA_STATUS_SUCCESS);
    VAStatus st = vaBeginPicture(display, ctx, target);
    if (st == VA_STATUS_SUCCESS) st = vaRenderPicture(display, ctx, bufs, 3);
    if (st == VA_STATUS_SUCCESS) st = vaEndPicture(display, ctx);
    for (VABufferID b : bufs) vaDestroyBuffer(display, b);
    return st;
  }

  std::string surface_md5() { return surface_md5_of(surface); }
  std::string surface_md5_of(VASurfaceID target) {
    VAImage image;
    EXPECT_EQ(vaDeriveImage(display, target, &image), VA_STATUS_SUCCESS);
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

}  // namespace v4l2va::test
