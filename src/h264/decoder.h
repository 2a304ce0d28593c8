// The H.264 codec behind the codec seam (src/codec.h): collects the VA
// buffers of one picture, translates them into the stateless H.264 controls
// (controls.h) and plans the requests that decode it, one per picture on
// frame-based devices and one per slice on slice-based ones.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "codec.h"
#include "h264/controls.h"
#include "log.h"
#include "v4l2/capabilities.h"
#include "v4l2/result.h"

namespace v4l2va::h264 {

// How the device takes a picture, chosen from what it offers.
struct DecodeModes {
  bool slice_based = false;  // one request per slice (cedrus) instead of per picture
  bool annex_b = true;       // slices are prefixed with 00 00 01
};

// Picks the decode mode and start code the device offers: frame-based with
// Annex-B when possible. LIBVA_V4L2_REQUEST_H264_DECODE_MODE=frame|slice and
// LIBVA_V4L2_REQUEST_H264_START_CODE=annexb|none force a choice (used to
// exercise both modes of visl).
Result<DecodeModes> choose_decode_modes(const DecoderCapabilities& caps, Log& log);

class H264Codec final : public Codec {
 public:
  // `max_slices` bounds the slices of one picture (one per macroblock at
  // most, 7.4.3), so a client cannot make the driver hold unbounded state.
  H264Codec(VAProfile profile, const DecoderCapabilities& caps, DecodeModes modes, uint32_t max_slices, Log& log);

  uint32_t coded_format() const override;
  std::vector<DeviceControl> device_controls() const override;
  std::string describe() const override;
  std::vector<v4l2_ext_control> stream_controls(uint32_t coded_width, uint32_t coded_height) override;
  void begin(VASurfaceID target) override;
  VAStatus render(const BufferView& buffer) override;
  VAStatus end(const ReferencePictures& references, uint32_t coded_width, uint32_t coded_height,
               PicturePlan& plan) override;
  void abandon() override;
  void forget(VASurfaceID surface) override;

 private:
  // A slice's bytes inside a VA buffer the codec keeps alive.
  struct SliceData {
    std::shared_ptr<const uint8_t> owner;
    size_t offset = 0;
    size_t size = 0;
    const uint8_t* bytes() const { return owner.get() + offset; }
  };
  struct Picture {
    VASurfaceID target = VA_INVALID_SURFACE;
    std::optional<VAPictureParameterBufferH264> params;
    std::optional<VAIQMatrixBufferH264> iq;
    std::vector<VASliceParameterBufferH264> slices;
    std::vector<SliceData> slice_data;
    size_t slices_waiting_for_data = 0;  // parameters rendered, their data buffer not yet
  };
  enum class Structure { Frame, TopField, BottomField };
  struct FieldState {
    Structure structure = Structure::Frame;
    uint32_t frame_num = 0;
  };

  VAStatus render_slice_params(const BufferView& buffer);
  VAStatus render_slice_data(const BufferView& buffer);
  bool is_second_field(const ReferencePictures& references);
  std::unordered_map<VASurfaceID, uint64_t> conceal_missing(const ReferencePictures& references,
                                                            unsigned& concealed) const;
  VAStatus check_size(uint32_t coded_width, uint32_t coded_height) const;
  void plan_requests(PicturePlan& plan);

  const DecoderCapabilities caps_;
  const DecodeModes modes_;
  const uint32_t max_slices_;
  Log& log_;
  StreamState stream_;
  Picture picture_;
  PictureControls controls_;  // the last planned picture's payloads
  v4l2_ctrl_h264_sps stream_sps_{};  // what stream_controls() describes
  VAProfile profile_;
  std::unordered_map<VASurfaceID, FieldState> fields_;
  VASurfaceID last_target_ = VA_INVALID_SURFACE;
};

}  // namespace v4l2va::h264
