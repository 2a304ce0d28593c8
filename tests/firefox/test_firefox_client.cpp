// Unit tests of the pieces of va-firefox-client that do not need a device:
// reading exported planes, output-order hashing, the compositor's hold queue,
// the command line, and the process measurements.
#include <drm_fourcc.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <va/va.h>

extern "C" {
#include <libavutil/md5.h>
}

#include <algorithm>
#include <cstdio>
#include <set>
#include <vector>

#include "hold_queue.h"
#include "options.h"
#include "output_hasher.h"
#include "picture_layout.h"
#include "process_stats.h"

namespace firefox_client {
namespace {

// A width x height NV12 picture with padded pitch in one buffer: luma sample
// (x, y) = 1 + x + 16 * y, Cb = 100 + x + 10 * y, Cr = 200 - x - 10 * y (mod 256).
struct Nv12Buffer {
  uint32_t width, height, pitch, chroma_offset;
  std::vector<uint8_t> bytes;
  Nv12Buffer(uint32_t w, uint32_t h, uint32_t p, uint32_t gap) : width(w), height(h), pitch(p) {
    chroma_offset = pitch * height + gap;
    bytes.assign(chroma_offset + pitch * ((height + 1) / 2), 0xEE);  // 0xEE: padding
    for (uint32_t y = 0; y < height; ++y)
      for (uint32_t x = 0; x < width; ++x) bytes[y * pitch + x] = uint8_t(1 + x + 16 * y);
    for (uint32_t y = 0; y < (height + 1) / 2; ++y)
      for (uint32_t x = 0; x < (width + 1) / 2; ++x) {
        bytes[chroma_offset + y * pitch + 2 * x] = uint8_t(100 + x + 10 * y);
        bytes[chroma_offset + y * pitch + 2 * x + 1] = uint8_t(200 - x - 10 * y);
      }
  }
  std::vector<uint8_t> ExpectedI420(const CropRect& crop) const {
    std::vector<uint8_t> out;
    for (uint32_t y = crop.top; y < crop.top + crop.height; ++y)
      for (uint32_t x = crop.left; x < crop.left + crop.width; ++x) out.push_back(uint8_t(1 + x + 16 * y));
    const uint32_t cx = crop.left / 2, cy = crop.top / 2, cw = (crop.width + 1) / 2, ch = (crop.height + 1) / 2;
    for (uint32_t y = cy; y < cy + ch; ++y)
      for (uint32_t x = cx; x < cx + cw; ++x) out.push_back(uint8_t(100 + x + 10 * y));
    for (uint32_t y = cy; y < cy + ch; ++y)
      for (uint32_t x = cx; x < cx + cw; ++x) out.push_back(uint8_t(200 - x - 10 * y));
    return out;
  }
};

VADRMPRIMESurfaceDescriptor SeparateLayers(const Nv12Buffer& picture) {
  VADRMPRIMESurfaceDescriptor descriptor{};
  descriptor.fourcc = VA_FOURCC_NV12;
  descriptor.width = picture.width;
  descriptor.height = picture.height;
  descriptor.num_objects = 1;
  descriptor.objects[0].size = uint32_t(picture.bytes.size());
  descriptor.num_layers = 2;
  descriptor.layers[0] = {DRM_FORMAT_R8, 1, {0}, {0}, {picture.pitch}};
  descriptor.layers[1] = {DRM_FORMAT_GR88, 1, {0}, {picture.chroma_offset}, {picture.pitch}};
  return descriptor;
}

TEST(PictureLayout, SeparateLayersWholePictureIsPackedYuv420p) {
  const Nv12Buffer picture(16, 8, 32, 64);
  const std::span<const uint8_t> object(picture.bytes);
  PictureView view;
  ASSERT_EQ(DescribePicture(SeparateLayers(picture), std::span(&object, 1), view), "");
  EXPECT_EQ(view.chroma_layout, ChromaLayout::kInterleavedCbCr);
  std::vector<uint8_t> packed;
  const CropRect crop{0, 0, 16, 8};
  ASSERT_EQ(AppendPackedI420(view, crop, packed), "");
  EXPECT_EQ(packed.size(), 16u * 8 + 2 * 8 * 4);
  EXPECT_EQ(packed, picture.ExpectedI420(crop));
}

TEST(PictureLayout, CropWithOffsetAndOddSizeRoundsChromaUp) {
  const Nv12Buffer picture(20, 12, 24, 0);
  const std::span<const uint8_t> object(picture.bytes);
  PictureView view;
  ASSERT_EQ(DescribePicture(SeparateLayers(picture), std::span(&object, 1), view), "");
  std::vector<uint8_t> packed;
  const CropRect crop{2, 4, 15, 7};
  ASSERT_EQ(AppendPackedI420(view, crop, packed), "");
  EXPECT_EQ(packed.size(), 15u * 7 + 2 * 8 * 4);
  EXPECT_EQ(packed, picture.ExpectedI420(crop));
}

TEST(PictureLayout, ComposedNv12LayerInTwoObjects) {
  const Nv12Buffer picture(16, 8, 16, 0);
  // Luma and chroma in separate objects, as some drivers export them.
  std::vector<uint8_t> luma(picture.bytes.begin(), picture.bytes.begin() + picture.chroma_offset);
  std::vector<uint8_t> chroma(picture.bytes.begin() + picture.chroma_offset, picture.bytes.end());
  const std::span<const uint8_t> objects[2] = {luma, chroma};
  VADRMPRIMESurfaceDescriptor descriptor{};
  descriptor.width = 16;
  descriptor.height = 8;
  descriptor.num_objects = 2;
  descriptor.num_layers = 1;
  descriptor.layers[0] = {DRM_FORMAT_NV12, 2, {0, 1}, {0, 0}, {16, 16}};
  PictureView view;
  ASSERT_EQ(DescribePicture(descriptor, objects, view), "");
  std::vector<uint8_t> packed;
  ASSERT_EQ(AppendPackedI420(view, {0, 0, 16, 8}, packed), "");
  EXPECT_EQ(packed, picture.ExpectedI420({0, 0, 16, 8}));
}

TEST(PictureLayout, PlanarI420Layers) {
  // 4x2 picture: Y = 0..7, Cb = 50, 51, Cr = 60, 61.
  const std::vector<uint8_t> bytes = {0, 1, 2, 3, 4, 5, 6, 7, 50, 51, 60, 61};
  const std::span<const uint8_t> object(bytes);
  VADRMPRIMESurfaceDescriptor descriptor{};
  descriptor.width = 4;
  descriptor.height = 2;
  descriptor.num_objects = 1;
  descriptor.num_layers = 3;
  descriptor.layers[0] = {DRM_FORMAT_R8, 1, {0}, {0}, {4}};
  descriptor.layers[1] = {DRM_FORMAT_R8, 1, {0}, {8}, {2}};
  descriptor.layers[2] = {DRM_FORMAT_R8, 1, {0}, {10}, {2}};
  PictureView view;
  ASSERT_EQ(DescribePicture(descriptor, std::span(&object, 1), view), "");
  EXPECT_EQ(view.chroma_layout, ChromaLayout::kPlanar);
  std::vector<uint8_t> packed;
  ASSERT_EQ(AppendPackedI420(view, {0, 0, 4, 2}, packed), "");
  EXPECT_EQ(packed, bytes);
}

TEST(PictureLayout, ReadsBeyondTheObjectAreErrors) {
  Nv12Buffer picture(16, 8, 16, 0);
  picture.bytes.resize(picture.bytes.size() - 1);  // the last chroma byte is missing
  const std::span<const uint8_t> object(picture.bytes);
  PictureView view;
  ASSERT_EQ(DescribePicture(SeparateLayers(picture), std::span(&object, 1), view), "");
  std::vector<uint8_t> packed;
  EXPECT_NE(AppendPackedI420(view, {0, 0, 16, 8}, packed), "");
  EXPECT_NE(AppendPackedI420(view, {0, 0, 17, 8}, packed), "") << "crop wider than the surface";
}

TEST(PictureLayout, UnknownLayoutsAndBadObjectIndicesAreErrors) {
  const Nv12Buffer picture(16, 8, 16, 0);
  const std::span<const uint8_t> object(picture.bytes);
  PictureView view;
  VADRMPRIMESurfaceDescriptor descriptor = SeparateLayers(picture);
  descriptor.layers[1].drm_format = DRM_FORMAT_RG1616;
  EXPECT_NE(DescribePicture(descriptor, std::span(&object, 1), view), "");
  descriptor = SeparateLayers(picture);
  descriptor.layers[1].object_index[0] = 1;  // only one object exists
  EXPECT_NE(DescribePicture(descriptor, std::span(&object, 1), view), "");
  descriptor = SeparateLayers(picture);
  descriptor.layers[0].pitch[0] = 0;
  EXPECT_NE(DescribePicture(descriptor, std::span(&object, 1), view), "");
}

std::string Md5Of(const std::vector<uint8_t>& bytes) {
  uint8_t digest[16];
  av_md5_sum(digest, bytes.data(), bytes.size());
  char hex[33];
  for (int i = 0; i < 16; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return hex;
}

std::vector<uint8_t> PictureBytes(uint64_t index) { return std::vector<uint8_t>(7, uint8_t(index * 3 + 1)); }

TEST(OutputOrderHasher, OutOfOrderArrivalHashesInOutputOrder) {
  OutputOrderHasher hasher;
  std::vector<uint8_t> concatenated;
  for (uint64_t index = 0; index < 6; ++index) {
    const auto bytes = PictureBytes(index);
    concatenated.insert(concatenated.end(), bytes.begin(), bytes.end());
  }
  for (uint64_t index : {2, 0, 5, 1, 4, 3}) ASSERT_EQ(hasher.Add(index, 0, PictureBytes(index)), "");
  EXPECT_EQ(hasher.pending(), 0u);
  ASSERT_EQ(hasher.Finish(), "");
  ASSERT_EQ(hasher.passes().size(), 1u);
  EXPECT_EQ(hasher.passes()[0].frames, 6u);
  EXPECT_EQ(hasher.passes()[0].md5, Md5Of(concatenated));
}

TEST(OutputOrderHasher, EachLoopPassHasItsOwnDigest) {
  OutputOrderHasher hasher;
  // Two passes of the same three pictures, released across the pass boundary.
  const uint32_t pass_of[6] = {0, 0, 0, 1, 1, 1};
  for (uint64_t index : {1, 3, 0, 2, 5, 4}) ASSERT_EQ(hasher.Add(index, pass_of[index], PictureBytes(index % 3)), "");
  ASSERT_EQ(hasher.Finish(), "");
  ASSERT_EQ(hasher.passes().size(), 2u);
  EXPECT_EQ(hasher.passes()[0].pass, 0u);
  EXPECT_EQ(hasher.passes()[1].pass, 1u);
  EXPECT_EQ(hasher.passes()[0].frames, 3u);
  EXPECT_EQ(hasher.passes()[0].md5, hasher.passes()[1].md5);
  EXPECT_NE(hasher.passes()[0].md5, Md5Of({}));
}

TEST(OutputOrderHasher, RepeatedAndMissingPicturesAreErrors) {
  OutputOrderHasher hasher;
  ASSERT_EQ(hasher.Add(0, 0, PictureBytes(0)), "");
  EXPECT_NE(hasher.Add(0, 0, PictureBytes(0)), "") << "already hashed";
  ASSERT_EQ(hasher.Add(2, 0, PictureBytes(2)), "");
  EXPECT_NE(hasher.Add(2, 0, PictureBytes(2)), "") << "already pending";
  EXPECT_EQ(hasher.pending(), 1u);
  EXPECT_NE(hasher.Finish(), "") << "picture 1 never arrived";
}

TEST(OutputOrderHasher, KeepsOneDigestPerPictureInOutputOrder) {
  OutputOrderHasher hasher;
  hasher.KeepFrameDigests();
  for (uint64_t index : {1, 0, 2}) ASSERT_EQ(hasher.Add(index, 0, PictureBytes(index)), "");
  ASSERT_EQ(hasher.Finish(), "");
  EXPECT_EQ(hasher.frame_digests(),
            (std::vector<std::string>{Md5Of(PictureBytes(0)), Md5Of(PictureBytes(1)), Md5Of(PictureBytes(2))}));
  OutputOrderHasher plain;
  ASSERT_EQ(plain.Add(0, 0, PictureBytes(0)), "");
  EXPECT_TRUE(plain.frame_digests().empty());
}

TEST(HoldQueue, HoldsAtMostCapacityAndReleasesEachPictureOnce) {
  HoldQueue<int> queue(4, 7);
  std::vector<int> released;
  for (int picture = 0; picture < 100; ++picture) {
    if (auto out = queue.Push(picture)) released.push_back(*out);
    EXPECT_LE(queue.size(), 4u);
  }
  EXPECT_EQ(queue.size(), 4u);
  while (auto out = queue.TakeOne()) released.push_back(*out);
  EXPECT_EQ(queue.size(), 0u);
  ASSERT_EQ(released.size(), 100u);
  EXPECT_EQ(std::set<int>(released.begin(), released.end()).size(), 100u);
  EXPECT_FALSE(std::is_sorted(released.begin(), released.end())) << "a non-zero seed releases out of order";
}

TEST(HoldQueue, SeedZeroReleasesInOrderAndASeedIsReproducible) {
  HoldQueue<int> in_order(3, 0);
  std::vector<int> order;
  for (int picture = 0; picture < 20; ++picture)
    if (auto out = in_order.Push(picture)) order.push_back(*out);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  EXPECT_EQ(order.front(), 0);

  auto run = [](uint32_t seed) {
    HoldQueue<int> queue(3, seed);
    std::vector<int> released;
    for (int picture = 0; picture < 50; ++picture)
      if (auto out = queue.Push(picture)) released.push_back(*out);
    return released;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(HoldQueue, CapacityZeroReleasesImmediately) {
  HoldQueue<int> queue(0, 3);
  auto out = queue.Push(42);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, 42);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(Options, DefaultsAndEveryOption) {
  Options options;
  const char* minimal[] = {"va-firefox-client", "a.264"};
  ASSERT_EQ(ParseOptions(2, minimal, options), "");
  EXPECT_EQ(options.device, "/dev/dri/renderD128");
  EXPECT_EQ(options.hold, 4u);
  EXPECT_EQ(options.decoders, 1u);
  EXPECT_EQ(options.loop_frames, 0u);
  EXPECT_EQ(options.EffectiveExtraHwFrames(), 6);
  EXPECT_FALSE(options.md5_only);
  EXPECT_FALSE(options.frame_md5);
  EXPECT_EQ(options.max_decode_errors, -1) << "stop at the first error unless asked";

  const char* full[] = {"c", "--device", "/dev/dri/renderD129", "--hold", "9", "--shuffle-seed", "0",
                        "--loop-frames", "2000", "--decoders", "4", "--md5-only", "--report-every", "500",
                        "a.264", "b.jsv"};
  ASSERT_EQ(ParseOptions(16, full, options), "");
  EXPECT_EQ(options.device, "/dev/dri/renderD129");
  EXPECT_EQ(options.hold, 9u);
  EXPECT_EQ(options.shuffle_seed, 0u);
  EXPECT_EQ(options.loop_frames, 2000u);
  EXPECT_EQ(options.decoders, 4u);
  EXPECT_EQ(options.report_every, 500u);
  EXPECT_TRUE(options.md5_only);
  EXPECT_EQ(options.EffectiveExtraHwFrames(), 9) << "the pool covers what the compositor holds";
  EXPECT_EQ(options.streams, (std::vector<std::string>{"a.264", "b.jsv"}));

  const char* recovering[] = {"c", "--frame-md5", "--max-decode-errors", "2", "a.264"};
  ASSERT_EQ(ParseOptions(5, recovering, options), "");
  EXPECT_TRUE(options.frame_md5);
  EXPECT_EQ(options.max_decode_errors, 2);
  const char* negative[] = {"c", "--max-decode-errors", "-1", "a.264"};
  EXPECT_NE(ParseOptions(4, negative, options), "");
}

TEST(Options, BadCommandLinesAreRejected) {
  Options options;
  const char* no_stream[] = {"c", "--hold", "3"};
  EXPECT_NE(ParseOptions(3, no_stream, options), "");
  const char* five_decoders[] = {"c", "--decoders", "5", "a"};
  EXPECT_NE(ParseOptions(4, five_decoders, options), "");
  const char* not_a_number[] = {"c", "--hold", "x4", "a"};
  EXPECT_NE(ParseOptions(4, not_a_number, options), "");
  const char* missing_value[] = {"c", "a", "--loop-frames"};
  EXPECT_NE(ParseOptions(3, missing_value, options), "");
  const char* unknown[] = {"c", "--threads", "2", "a"};
  EXPECT_NE(ParseOptions(4, unknown, options), "");
}

TEST(ProcessStats, CountsDescriptorsThisProcessOpens) {
  const int before = CountOpenFds();
  ASSERT_GT(before, 0);
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(CountOpenFds(), before + 1);
  ::close(fd);
  EXPECT_EQ(CountOpenFds(), before);
  EXPECT_GT(ResidentSetKb(), 0);
}

}  // namespace
}  // namespace firefox_client
