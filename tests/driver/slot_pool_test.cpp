// The request slot pool against the emulated decoder: the lifecycle
// invariants of docs/design.md, each pinned by a test.
#include <gtest/gtest.h>
#include <linux/v4l2-controls.h>

#include <cstring>
#include <memory>
#include <set>

#include "emulated_device.h"
#include "v4l2/queue.h"
#include "v4l2/slot_pool.h"

namespace v4l2va {
namespace {

constexpr uint32_t kWidth = 176, kHeight = 144;

// Valid controls for a 176x144 4:2:0 8-bit IDR picture: the request is
// accepted; the slice data is not a real slice, so the device reports a
// decoding error for it, which is exactly what a test of the error path wants.
struct IdrControls {
  v4l2_ctrl_h264_sps sps{};
  v4l2_ctrl_h264_pps pps{};
  v4l2_ctrl_h264_decode_params decode{};
  IdrControls() {
    sps.profile_idc = 77;
    sps.level_idc = 30;
    sps.chroma_format_idc = 1;
    sps.max_num_ref_frames = 1;
    sps.pic_width_in_mbs_minus1 = kWidth / 16 - 1;
    sps.pic_height_in_map_units_minus1 = kHeight / 16 - 1;
    sps.flags = V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY | V4L2_H264_SPS_FLAG_DIRECT_8X8_INFERENCE;
    decode.nal_ref_idc = 3;
    decode.flags = V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC;
  }
  std::vector<v4l2_ext_control> list() {
    std::vector<v4l2_ext_control> c(3);
    c[0].id = V4L2_CID_STATELESS_H264_SPS;
    c[0].size = sizeof(sps);
    c[0].ptr = &sps;
    c[1].id = V4L2_CID_STATELESS_H264_PPS;
    c[1].size = sizeof(pps);
    c[1].ptr = &pps;
    c[2].id = V4L2_CID_STATELESS_H264_DECODE_PARAMS;
    c[2].size = sizeof(decode);
    c[2].ptr = &decode;
    return c;
  }
};

class SlotPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(VideoDevice::open("/dev/video0", log, video), VA_STATUS_SUCCESS) << "is the emulator preloaded?";
    ASSERT_EQ(MediaDevice::open("/dev/media0", log, media), VA_STATUS_SUCCESS);
    output = std::make_unique<Queue>(*video, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE);
    capture = std::make_unique<Queue>(*video, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE);
    ASSERT_EQ(output->set_format(V4L2_PIX_FMT_H264_SLICE, kWidth, kHeight, 512 * 1024), VA_STATUS_SUCCESS);
    ASSERT_EQ(capture->read_format(), VA_STATUS_SUCCESS);
    uint32_t first = 0, created = 0;
    ASSERT_EQ(capture->create_buffers(kCaptures, first, created), VA_STATUS_SUCCESS);
    ASSERT_EQ(created, kCaptures);
  }

  void start(uint32_t slots) {
    pool = std::make_unique<SlotPool>(*video, *media, *output, *capture, 5000);
    ASSERT_EQ(pool->create(slots), VA_STATUS_SUCCESS);
    ASSERT_EQ(output->stream_on(), VA_STATUS_SUCCESS);
    ASSERT_EQ(capture->stream_on(), VA_STATUS_SUCCESS);
  }

  // Queues one picture into `capture_index`, as the picture module does.
  VAStatus submit(uint32_t capture_index, uint64_t ts, uint64_t& sequence) {
    RequestSlot* slot = nullptr;
    if (VAStatus st = pool->bind(slot, sink()); st != VA_STATUS_SUCCESS) return st;
    EXPECT_EQ(slot->state(), RequestSlot::State::Filling);
    static constexpr uint8_t kNotASlice[] = {0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33};
    std::memcpy(slot->bitstream(), kNotASlice, sizeof(kNotASlice));
    Submission sub;
    sub.controls = controls.list();
    sub.bytesused = sizeof(kNotASlice);
    sub.capture = CaptureIndex{capture_index};
    sub.timestamp_ns = ts;
    return pool->queue(*slot, sub, sequence);
  }

  CompletionSink sink() {
    return [this](const Completion& c) { completions.push_back(c); };
  }

  static constexpr uint32_t kCaptures = 8;
  test::CollectingLog log;
  std::unique_ptr<VideoDevice> video;
  std::unique_ptr<MediaDevice> media;
  std::unique_ptr<Queue> output, capture;
  std::unique_ptr<SlotPool> pool;
  IdrControls controls;
  std::vector<Completion> completions;
};

TEST_F(SlotPoolTest, EachSlotOwnsOneRequestAndOneOutputBufferForLife) {
  start(3);
  ASSERT_EQ(pool->size(), 3u);
  std::vector<int> fds;
  std::set<uint32_t> indices;
  for (size_t i = 0; i < pool->size(); ++i) {
    fds.push_back(pool->slot(i).request_fd());
    indices.insert(pool->slot(i).output_index().value);
    EXPECT_GE(fds.back(), 0);
  }
  EXPECT_EQ(indices.size(), 3u);
  const int fds_before = test::open_fd_count();

  uint64_t seq = 0;
  for (uint32_t i = 0; i < 40; ++i) ASSERT_EQ(submit(i % kCaptures, (i + 1) * 1000ull, seq), VA_STATUS_SUCCESS);
  ASSERT_EQ(pool->drain_all(sink()), VA_STATUS_SUCCESS);

  // Same request fds, same OUTPUT buffers, no fd allocated per picture.
  for (size_t i = 0; i < pool->size(); ++i) {
    EXPECT_EQ(pool->slot(i).request_fd(), fds[i]);
    EXPECT_EQ(pool->slot(i).state(), RequestSlot::State::Free);
  }
  EXPECT_EQ(test::open_fd_count(), fds_before);
  EXPECT_EQ(completions.size(), 40u);
}

TEST_F(SlotPoolTest, BindDrainsTheOldestWhenEverySlotIsInFlight) {
  start(2);
  uint64_t s1 = 0, s2 = 0, s3 = 0;
  ASSERT_EQ(submit(0, 1000, s1), VA_STATUS_SUCCESS);
  ASSERT_EQ(submit(1, 2000, s2), VA_STATUS_SUCCESS);
  EXPECT_EQ(pool->in_flight(), 2u);
  EXPECT_TRUE(completions.empty());
  ASSERT_EQ(submit(2, 3000, s3), VA_STATUS_SUCCESS);
  // Only the oldest was drained to make room: back-pressure, in order.
  ASSERT_EQ(completions.size(), 1u);
  EXPECT_EQ(completions[0].sequence, s1);
  EXPECT_TRUE(pool->completed(s1));
  EXPECT_FALSE(pool->completed(s2));
  EXPECT_EQ(pool->in_flight(), 2u);
}

TEST_F(SlotPoolTest, DrainThroughStopsAtTheRequestedPicture) {
  start(4);
  uint64_t seq[4];
  for (uint32_t i = 0; i < 4; ++i) ASSERT_EQ(submit(i, (i + 1) * 1000ull, seq[i]), VA_STATUS_SUCCESS);
  ASSERT_EQ(pool->drain_through(seq[1], sink()), VA_STATUS_SUCCESS);
  ASSERT_EQ(completions.size(), 2u);
  EXPECT_EQ(completions[0].capture.value, 0u);
  EXPECT_EQ(completions[1].capture.value, 1u);
  EXPECT_TRUE(completions[1].capture_released);
  EXPECT_EQ(pool->in_flight(), 2u);
}

TEST_F(SlotPoolTest, DeviceErrorsReachTheCompletion) {
  start(2);
  uint64_t seq = 0;
  ASSERT_EQ(submit(0, 1000, seq), VA_STATUS_SUCCESS);
  ASSERT_EQ(pool->drain_all(sink()), VA_STATUS_SUCCESS);
  ASSERT_EQ(completions.size(), 1u);
  // The bytes are not a decodable slice: the device flags the buffers.
  EXPECT_TRUE(completions[0].error);
}

TEST_F(SlotPoolTest, RejectedControlsGiveTheSlotBackAndAreLogged) {
  start(1);
  // Out of range (7.4.2.1.1): v4l2-ctrls-core.c rejects it with EINVAL.
  controls.sps.log2_max_frame_num_minus4 = 13;
  uint64_t seq = 0;
  EXPECT_NE(submit(0, 1000, seq), VA_STATUS_SUCCESS);
  EXPECT_EQ(pool->slot(0).state(), RequestSlot::State::Free);
  ASSERT_FALSE(log.errors.empty());
  EXPECT_NE(log.errors[0].find("VIDIOC_S_EXT_CTRLS"), std::string::npos) << log.errors[0];
  // The slot is usable again at once.
  controls = IdrControls();
  EXPECT_EQ(submit(0, 2000, seq), VA_STATUS_SUCCESS);
}

TEST_F(SlotPoolTest, QueueingACaptureBufferTwiceIsCaughtByTheDevice) {
  // What the drain-before-rebind rule prevents: the second QBUF of a CAPTURE
  // buffer still queued is EINVAL, and the pool recovers its slot.
  start(2);
  uint64_t seq = 0;
  ASSERT_EQ(submit(0, 1000, seq), VA_STATUS_SUCCESS);
  EXPECT_NE(submit(0, 2000, seq), VA_STATUS_SUCCESS);
  bool logged = false;
  for (auto& e : log.errors) logged |= e.find("VIDIOC_QBUF") != std::string::npos;
  EXPECT_TRUE(logged);
  ASSERT_EQ(pool->drain_all(sink()), VA_STATUS_SUCCESS);
  EXPECT_EQ(submit(0, 3000, seq), VA_STATUS_SUCCESS);
}

}  // namespace
}  // namespace v4l2va
