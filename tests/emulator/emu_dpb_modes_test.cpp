// V4L2_EMU_DPB_CHECK: strict (the default: a bad DPB entry fails the job)
// and hardware (the job decodes as the modelled driver programs the
// hardware: hantro_h264.c, rkvdec-h264.c, cedrus_h264.c of Linux 6.12).
#include <cstdlib>

#include "emu_test_support.h"

namespace emu::test {
namespace {

// Records, per decode, the destination and the reference overrides the
// device model handed over; "decodes" by filling luma with frame_num.
struct RecordedDecode {
  uint16_t frame_num = 0;
  const uint8_t* destination = nullptr;
  std::vector<ReferenceOverride> overrides;
  bool overrides_set = false;
};

class RecordingBackend : public H264Backend {
 public:
  explicit RecordingBackend(std::vector<RecordedDecode>& log) : log_(log) {}
  DecodeResult decode(const H264RequestControls& controls, const uint8_t*, size_t,
                      const CaptureTarget& target) override {
    RecordedDecode record;
    record.frame_num = controls.decode_params.frame_num;
    record.destination = target.luma.data;
    record.overrides = std::exchange(pending_, {});
    record.overrides_set = std::exchange(pending_set_, false);
    log_.push_back(std::move(record));
    std::memset(target.luma.data, controls.decode_params.frame_num & 0xff,
                static_cast<size_t>(target.bytesperline) * target.height);
    return {true, {}, {}};
  }
  void reset() override {}
  void set_reference_overrides(std::vector<ReferenceOverride> overrides) override {
    pending_ = std::move(overrides);
    pending_set_ = true;
  }

 private:
  std::vector<RecordedDecode>& log_;
  std::vector<ReferenceOverride> pending_;
  bool pending_set_ = false;
};

v4l2_ctrl_h264_decode_params frame(uint16_t frame_num, int32_t poc) {
  v4l2_ctrl_h264_decode_params params{};
  params.frame_num = frame_num;
  params.top_field_order_cnt = poc;
  params.bottom_field_order_cnt = poc;
  params.nal_ref_idc = 1;
  return params;
}

void reference(v4l2_ctrl_h264_decode_params& params, size_t slot, uint64_t ts_us, uint16_t frame_num,
               int32_t poc, bool active = true) {
  v4l2_h264_dpb_entry& entry = params.dpb[slot];
  entry.reference_ts = ts_us * 1000;
  entry.frame_num = frame_num;
  entry.fields = V4L2_H264_FRAME_REF;
  entry.top_field_order_cnt = poc;
  entry.bottom_field_order_cnt = poc;
  entry.flags = V4L2_H264_DPB_ENTRY_FLAG_VALID | (active ? V4L2_H264_DPB_ENTRY_FLAG_ACTIVE : 0);
}

class DpbModesTest : public EmulatorTest {
 protected:
  void use(const std::string& profile, DpbCheckMode mode) {
    EmulatorConfig config;
    config.device_profiles = {profile};
    config.profile_name = profile;
    config.dpb_check = mode;
    use_queue_types_of(profile);
    ASSERT_EQ(Emulator::instance().configure(config), "");
    Emulator::instance().set_backend_factory(
        [this](DecodeMode, StartCode) { return std::make_unique<RecordingBackend>(log_); });
    Emulator::instance().counters().reset();
    start_streaming(media_, video_, 1, 6);
    request_ = alloc_request(media_);
  }
  // Decodes into CAPTURE buffer `cap`; returns true if it came back ERROR.
  bool run(uint32_t cap, uint64_t ts_us, const v4l2_ctrl_h264_decode_params& params) {
    EXPECT_EQ(decode_picture(video_, request_, 0, cap, ts_us, params), 0);
    EXPECT_TRUE(wait_pollpri(request_));
    v4l2_buffer buffer{};
    v4l2_plane plane{};
    EXPECT_EQ(dqbuf(video_, capture_type_, buffer, plane), 0);
    v4l2_buffer out{};
    v4l2_plane out_plane{};
    EXPECT_EQ(dqbuf(video_, output_type_, out, out_plane), 0);
    EXPECT_EQ(xioctl(request_, MEDIA_REQUEST_IOC_REINIT, nullptr), 0);
    return buffer.flags & V4L2_BUF_FLAG_ERROR;
  }
  // The destination pointer of the decode that wrote buffer `cap` first.
  const uint8_t* memory_of_decode(size_t decode_index) const { return log_.at(decode_index).destination; }

  int media_ = -1, video_ = -1, request_ = -1;
  std::vector<RecordedDecode> log_;
};

TEST_F(DpbModesTest, StrictIsTheDefault) {
  EXPECT_EQ(EmulatorConfig{}.dpb_check, DpbCheckMode::Strict);
  ::unsetenv("V4L2_EMU_DPB_CHECK");
  EXPECT_EQ(EmulatorConfig::from_environment().dpb_check, DpbCheckMode::Strict);
  ::setenv("V4L2_EMU_DPB_CHECK", "hardware", 1);
  EXPECT_EQ(EmulatorConfig::from_environment().dpb_check, DpbCheckMode::Hardware);
  ::unsetenv("V4L2_EMU_DPB_CHECK");
}

TEST_F(DpbModesTest, StrictFlagsAnUnknownTimestampAndOverridesNothing) {
  use("hantro", DpbCheckMode::Strict);
  EXPECT_FALSE(run(0, 100, frame(0, 0)));
  v4l2_ctrl_h264_decode_params p = frame(1, 4);
  reference(p, 0, 999, 0, 0);
  EXPECT_TRUE(run(1, 200, p));
  EXPECT_FALSE(log_.back().overrides_set);
  EXPECT_EQ(Emulator::instance().counters().snapshot().errors, 1u);
}

// hantro_h264_get_ref_buf(): an ACTIVE entry whose reference_ts matches no
// buffer gets the destination buffer's address; no error is raised.
TEST_F(DpbModesTest, HantroReadsTheDestinationForAnUnknownTimestamp) {
  use("hantro", DpbCheckMode::Hardware);
  EXPECT_FALSE(run(0, 100, frame(0, 0)));
  v4l2_ctrl_h264_decode_params p = frame(1, 4);
  reference(p, 0, 100, 0, 0);   // right
  reference(p, 1, 999, 5, 20);  // names nothing
  EXPECT_FALSE(run(1, 200, p));
  const RecordedDecode& decode = log_.back();
  ASSERT_TRUE(decode.overrides_set);
  ASSERT_EQ(decode.overrides.size(), 1u);
  EXPECT_EQ(decode.overrides[0].source.luma.data, decode.destination);
  EXPECT_EQ(decode.overrides[0].top_poc, 20);
  EXPECT_EQ(decode.overrides[0].fields, V4L2_H264_FRAME_REF);
  const CounterSnapshot counters = Emulator::instance().counters().snapshot();
  EXPECT_EQ(counters.errors, 0u);
  EXPECT_EQ(counters.dpb_mismatches, 1u);
  EXPECT_EQ(counters.frames_decoded, 2u);
}

// A reference_ts that finds a buffer holding another picture: the hardware
// reads that buffer.
TEST_F(DpbModesTest, AWrongPictureIsReadFromTheBufferTheTimestampNames) {
  use("hantro", DpbCheckMode::Hardware);
  EXPECT_FALSE(run(0, 100, frame(0, 0)));
  EXPECT_FALSE(run(1, 200, frame(1, 4)));
  v4l2_ctrl_h264_decode_params p = frame(2, 8);
  reference(p, 0, 100, 1, 4);  // buffer 0 holds frame_num 0, POC 0
  EXPECT_FALSE(run(2, 300, p));
  ASSERT_EQ(log_.back().overrides.size(), 1u);
  EXPECT_EQ(log_.back().overrides[0].source.luma.data, memory_of_decode(0));
  EXPECT_EQ(log_.back().overrides[0].top_poc, 4);
  // The buffer being overwritten, named by its old timestamp: vb2_find_buffer()
  // sees the new one, so the destination's address (its old content).
  v4l2_ctrl_h264_decode_params self = frame(3, 12);
  reference(self, 0, 100, 0, 0);
  EXPECT_FALSE(run(0, 400, self));
  ASSERT_EQ(log_.back().overrides.size(), 1u);
  EXPECT_EQ(log_.back().overrides[0].source.luma.data, log_.back().destination);
  EXPECT_EQ(Emulator::instance().counters().snapshot().dpb_mismatches, 2u);
}

TEST_F(DpbModesTest, InactiveEntriesAreNotReadButStillCounted) {
  use("hantro", DpbCheckMode::Hardware);
  EXPECT_FALSE(run(0, 100, frame(0, 0)));
  v4l2_ctrl_h264_decode_params p = frame(1, 4);
  reference(p, 0, 999, 0, 0, /*active=*/false);
  EXPECT_FALSE(run(1, 200, p));
  EXPECT_TRUE(log_.back().overrides_set);
  EXPECT_TRUE(log_.back().overrides.empty());
  EXPECT_EQ(Emulator::instance().counters().snapshot().dpb_mismatches, 1u);
}

// rkvdec-h264.c: lookup_ref_buf_idx() leaves ref_buf NULL, and
// config_registers() programs the destination buffer for it.
TEST_F(DpbModesTest, RkvdecReadsTheDestinationForAnUnknownTimestamp) {
  use("rkvdec", DpbCheckMode::Hardware);
  EXPECT_FALSE(run(0, 100, frame(0, 0)));
  v4l2_ctrl_h264_decode_params p = frame(1, 4);
  reference(p, 0, 999, 0, 0);
  EXPECT_FALSE(run(1, 200, p));
  ASSERT_EQ(log_.back().overrides.size(), 1u);
  EXPECT_EQ(log_.back().overrides[0].source.luma.data, log_.back().destination);
}

// cedrus_h264.c: a reference whose buffer is not found keeps reference-list
// byte 0, which is frame-list position 0: the buffer holding position 0
// in this decode's frame list.
TEST_F(DpbModesTest, CedrusReadsFrameListPositionZero) {
  use("cedrus", DpbCheckMode::Hardware);
  EXPECT_FALSE(run(0, 100, frame(0, 0)));  // no references: position 0
  v4l2_ctrl_h264_decode_params second = frame(1, 4);
  reference(second, 0, 100, 0, 0);
  EXPECT_FALSE(run(1, 200, second));       // position 0 is used: position 1
  v4l2_ctrl_h264_decode_params third = frame(2, 8);
  reference(third, 0, 100, 0, 0);
  reference(third, 1, 999, 1, 4);
  EXPECT_FALSE(run(2, 300, third));
  ASSERT_EQ(log_.back().overrides.size(), 1u);
  EXPECT_EQ(log_.back().overrides[0].source.luma.data, memory_of_decode(0));
  // Position 0 not in the frame list: the destination takes it (first free).
  v4l2_ctrl_h264_decode_params fourth = frame(3, 12);
  reference(fourth, 0, 200, 1, 4);
  reference(fourth, 1, 999, 2, 8);
  EXPECT_FALSE(run(3, 400, fourth));
  ASSERT_EQ(log_.back().overrides.size(), 1u);
  EXPECT_EQ(log_.back().overrides[0].source.luma.data, log_.back().destination);
}

TEST(DpbPlanTest, CedrusPositionsFollowTheDriver) {
  std::vector<PictureInfo> pictures(3);
  pictures[0].valid = true;
  pictures[0].timestamp_ns = 100;
  pictures[0].cedrus_position = 0;
  pictures[1].valid = true;
  pictures[1].timestamp_ns = 200;
  pictures[1].cedrus_position = 1;
  v4l2_ctrl_h264_decode_params params{};
  params.dpb[0].reference_ts = 100;
  params.dpb[0].flags = V4L2_H264_DPB_ENTRY_FLAG_VALID | V4L2_H264_DPB_ENTRY_FLAG_ACTIVE;
  params.dpb[1].reference_ts = 200;
  params.dpb[1].flags = V4L2_H264_DPB_ENTRY_FLAG_VALID;
  // Destination (buffer 2): first position not used by a found VALID entry.
  EXPECT_EQ(plan_hardware_references(params, pictures, 2, 300, ReferenceLookup::CedrusFrameList, {})
                .output_position,
            2u);
  // A second field names its own timestamp: it keeps the buffer's position.
  pictures[2].valid = true;
  pictures[2].timestamp_ns = 300;
  pictures[2].cedrus_position = 5;
  params.dpb[2].reference_ts = 300;
  params.dpb[2].flags = V4L2_H264_DPB_ENTRY_FLAG_VALID;
  EXPECT_EQ(plan_hardware_references(params, pictures, 2, 300, ReferenceLookup::CedrusFrameList, {})
                .output_position,
            5u);
  EXPECT_EQ(reference_lookup_for("cedrus"), ReferenceLookup::CedrusFrameList);
  EXPECT_EQ(reference_lookup_for("hantro"), ReferenceLookup::DestinationBuffer);
  EXPECT_EQ(reference_lookup_for("rkvdec"), ReferenceLookup::DestinationBuffer);
}

}  // namespace
}  // namespace emu::test
