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

class SlotPoolTest : public ::testing::Test, public PoolEvents {
 protected:
  void SetUp() override {
    ASSERT_EQ(VideoDevice::open("/dev/video0", log, video), VA_STATUS_SUCCESS) << "is the emulator preloaded?";
    ASSERT_EQ(MediaDevice::open("/dev/media0", log, media), VA_STATUS_SUCCESS);
    output = std::make_unique<Queue>(*video, PlanesApi::Multi, Queue::Direction::Output);
    capture = std::make_unique<Queue>(*video, PlanesApi::Multi, Queue::Direction::Capture);
    ASSERT_EQ(output->set_format(V4L2_PIX_FMT_H264_SLICE, kWidth, kHeight, 512 * 1024), VA_STATUS_SUCCESS);
    ASSERT_EQ(capture->read_format(), VA_STATUS_SUCCESS);
    Result<uint32_t> first = capture->create_buffers(kCaptures);
    ASSERT_TRUE(first.ok());
    ASSERT_EQ(*first, 0u);
  }

  void start(uint32_t slots) {
    pool = std::make_unique<SlotPool>(*video, *media, *output, *capture, *this, 5000);
    ASSERT_EQ(pool->create(slots), VA_STATUS_SUCCESS);
    ASSERT_EQ(output->stream_on(), VA_STATUS_SUCCESS);
    ASSERT_EQ(capture->stream_on(), VA_STATUS_SUCCESS);
  }

  // Queues one picture into `capture_index`, as the context does.
  VAStatus submit(uint32_t capture_index, uint64_t ts, uint64_t& sequence) {
    Result<FillingSlot> slot = pool->acquire();
    if (!slot.ok()) return slot.status();
    static constexpr uint8_t kStartCode[] = {0, 0, 1};
    static constexpr uint8_t kNotASlice[] = {0x65, 0x88, 0x84, 0x00, 0x33};
    EXPECT_TRUE(slot->append(kStartCode, kNotASlice));
    EXPECT_EQ(slot->size(), sizeof(kStartCode) + sizeof(kNotASlice));
    list = controls.list();
    Submission sub;
    sub.controls = list;
    sub.capture = CaptureIndex{capture_index};
    sub.timestamp_ns = ts;
    Result<uint64_t> queued = pool->queue(std::move(*slot), sub);
    if (queued.ok()) sequence = *queued;
    return queued.status();
  }

  void request_completed(const Completion& done) override { completions.push_back(done); }
  void capture_timestamps_lost() override { ++resets; }

  size_t free_slots() const {
    size_t n = 0;
    for (size_t i = 0; i < pool->size(); ++i) n += pool->slot(i).state() == RequestSlot::State::Free;
    return n;
  }

  static constexpr uint32_t kCaptures = 8;
  test::CollectingLog log;
  std::unique_ptr<VideoDevice> video;
  std::unique_ptr<MediaDevice> media;
  std::unique_ptr<Queue> output, capture;
  std::unique_ptr<SlotPool> pool;
  IdrControls controls;
  std::vector<v4l2_ext_control> list;
  std::vector<Completion> completions;
  int resets = 0;
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
  ASSERT_EQ(pool->drain_all(), SlotPool::Drain::Done);

  // Same request fds, same OUTPUT buffers, no fd allocated per picture.
  for (size_t i = 0; i < pool->size(); ++i) {
    EXPECT_EQ(pool->slot(i).request_fd(), fds[i]);
    EXPECT_EQ(pool->slot(i).state(), RequestSlot::State::Free);
  }
  EXPECT_EQ(test::open_fd_count(), fds_before);
  EXPECT_EQ(completions.size(), 40u);
  EXPECT_EQ(resets, 0);
}

TEST_F(SlotPoolTest, AcquireDrainsTheOldestWhenEverySlotIsInFlight) {
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
  ASSERT_EQ(pool->drain_through(seq[1]), SlotPool::Drain::Done);
  ASSERT_EQ(completions.size(), 2u);
  EXPECT_EQ(completions[0].capture.value, 0u);
  EXPECT_EQ(completions[1].capture.value, 1u);
  EXPECT_TRUE(completions[1].last_of_picture);
  EXPECT_EQ(pool->in_flight(), 2u);
}

TEST_F(SlotPoolTest, DeviceErrorsReachTheCompletion) {
  start(2);
  uint64_t seq = 0;
  ASSERT_EQ(submit(0, 1000, seq), VA_STATUS_SUCCESS);
  ASSERT_EQ(pool->drain_all(), SlotPool::Drain::Done);
  ASSERT_EQ(completions.size(), 1u);
  // The bytes are not a decodable slice: the device flags the buffers.
  EXPECT_EQ(completions[0].outcome, Completion::Outcome::Flagged);
}

TEST_F(SlotPoolTest, ADroppedFillingSlotGoesBackToThePool) {
  start(1);
  {
    Result<FillingSlot> slot = pool->acquire();
    ASSERT_TRUE(slot.ok());
    EXPECT_EQ(free_slots(), 0u);
    FillingSlot moved = std::move(*slot);  // moving keeps one owner
    EXPECT_EQ(free_slots(), 0u);
  }
  EXPECT_EQ(free_slots(), 1u);
  uint64_t seq = 0;
  EXPECT_EQ(submit(0, 1000, seq), VA_STATUS_SUCCESS);
}

TEST_F(SlotPoolTest, AppendRefusesWhatDoesNotFitAndWritesNothing) {
  start(1);
  Result<FillingSlot> slot = pool->acquire();
  ASSERT_TRUE(slot.ok());
  std::vector<uint8_t> big(slot->capacity());
  static constexpr uint8_t kStartCode[] = {0, 0, 1};
  EXPECT_FALSE(slot->append(kStartCode, big));
  EXPECT_EQ(slot->size(), 0u);
  EXPECT_TRUE(slot->append({}, big));
  EXPECT_EQ(slot->size(), slot->capacity());
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
  EXPECT_EQ(resets, 0);
}

TEST_F(SlotPoolTest, ACaptureBufferThatCannotBeQueuedCancelsOnlyItsOwnPicture) {
  // What the drain-before-rebind rule prevents: the second QBUF of a CAPTURE
  // buffer still queued is EINVAL. The request queued before it is cancelled
  // alone (OUTPUT STREAMOFF once the older picture is done); the CAPTURE
  // queue and its timestamps stay as they are.
  start(2);
  uint64_t first = 0, second = 0;
  ASSERT_EQ(submit(0, 1000, first), VA_STATUS_SUCCESS);
  EXPECT_NE(submit(0, 2000, second), VA_STATUS_SUCCESS);
  bool logged = false;
  for (auto& e : log.errors) logged |= e.find("VIDIOC_QBUF") != std::string::npos;
  EXPECT_TRUE(logged);
  ASSERT_EQ(completions.size(), 2u);
  EXPECT_EQ(completions[0].sequence, first);
  EXPECT_NE(completions[0].outcome, Completion::Outcome::Lost);
  EXPECT_EQ(completions[1].outcome, Completion::Outcome::Lost);
  EXPECT_EQ(resets, 0);
  EXPECT_EQ(pool->in_flight(), 0u);
  EXPECT_EQ(free_slots(), 2u);
  uint64_t third = 0;
  EXPECT_EQ(submit(0, 3000, third), VA_STATUS_SUCCESS);
  ASSERT_EQ(pool->drain_all(), SlotPool::Drain::Done);
  EXPECT_NE(completions.back().outcome, Completion::Outcome::Lost);
}

TEST_F(SlotPoolTest, ClientTimeoutLeavesThePictureInFlight) {
  start(2);
  uint64_t seq = 0;
  ASSERT_EQ(submit(0, 1000, seq), VA_STATUS_SUCCESS);
  // A zero wait only looks: whether the job is done yet or not, nothing is
  // reset and the picture still completes normally.
  const SlotPool::Drain first_look = pool->drain_through(seq, 0);
  EXPECT_TRUE(first_look == SlotPool::Drain::ClientTimeout || first_look == SlotPool::Drain::Done);
  ASSERT_EQ(pool->drain_through(seq), SlotPool::Drain::Done);
  ASSERT_EQ(completions.size(), 1u);
  EXPECT_NE(completions[0].outcome, Completion::Outcome::Lost);
  EXPECT_EQ(resets, 0);
}

}  // namespace
}  // namespace v4l2va
