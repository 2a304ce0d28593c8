// The emulator's decoding backend: turns what one media request carried (the
// H.264 controls and the OUTPUT buffer's bytes) into a decoded picture in the
// CAPTURE buffer bound to that request. The device model (requests, queues,
// rules) owns the buffers and calls this; the backend owns the bitstream
// rebuilding and the libavcodec instance. One backend per m2m instance (one
// open of the video node), used from that instance's worker thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <linux/v4l2-controls.h>

#include "capture_layout.h"

namespace emu {

enum class DecodeMode { SliceBased, FrameBased };   // V4L2_STATELESS_H264_DECODE_MODE_*
enum class StartCode { None, AnnexB };              // V4L2_STATELESS_H264_START_CODE_*

// Everything the request set, already validated by the device model.
struct H264RequestControls {
  v4l2_ctrl_h264_sps sps{};
  v4l2_ctrl_h264_pps pps{};
  std::optional<v4l2_ctrl_h264_scaling_matrix> scaling_matrix;  // when the request set it
  v4l2_ctrl_h264_decode_params decode_params{};
  std::optional<v4l2_ctrl_h264_slice_params> slice_params;     // slice-based mode
  std::optional<v4l2_ctrl_h264_pred_weights> pred_weights;     // slice-based mode
};

// One plane of the picture in CAPTURE memory.
struct CapturePlane {
  uint8_t* data = nullptr;
  size_t size = 0;  // bytes available from `data`
};

// The CAPTURE buffer that receives the picture. The luma and the
// interleaved CbCr plane lie in one memory plane (NV12, NV12_32L32: `chroma`
// points into the same mapping) or in two (MM21).
struct CaptureTarget {
  CapturePlane luma;
  CapturePlane chroma;
  uint32_t width = 0;          // coded width in pixels (from the CAPTURE format)
  uint32_t height = 0;         // coded height in lines
  uint32_t bytesperline = 0;   // luma and chroma pitch
  CaptureLayout layout = CaptureLayout::NV12;
};

// V4L2_EMU_DPB_CHECK=hardware: for the next decode, the reference the DPB
// entry with these POCs names is read by the hardware from `source` (another
// picture, or stale memory) instead of the picture that was decoded for it.
struct ReferenceOverride {
  int32_t top_poc = 0;
  int32_t bottom_poc = 0;
  uint8_t fields = 0;    // V4L2_H264_{TOP,BOTTOM}_FIELD_REF of the entry
  CaptureTarget source;  // read only
};

struct DecodeResult {
  bool ok = false;
  std::string error;  // set when !ok: why the picture could not be produced
  // VP8/VP9: reference timestamps that do not name the picture the
  // bitstream references (the H.264 DPB is checked by the device model).
  std::vector<std::string> reference_problems;
};

class H264Backend {
 public:
  static std::unique_ptr<H264Backend> create(DecodeMode mode, StartCode start_code);
  virtual ~H264Backend() = default;

  // Decodes one request: a frame or field (frame-based) or a slice
  // (slice-based). Writes the (possibly partial, for slice-based) picture into
  // `target` before returning. The backend rebuilds SPS/PPS NAL units from the
  // controls and ignores any SPS/PPS NAL units in `bitstream`, so the picture
  // is right only if the controls are.
  virtual DecodeResult decode(const H264RequestControls& controls,
                              const uint8_t* bitstream, size_t length,
                              const CaptureTarget& target) = 0;

  // Forget all decoder state (STREAMOFF on OUTPUT).
  virtual void reset() = 0;

  // The references the next decode() reads from other memory than their
  // own picture (V4L2_EMU_DPB_CHECK=hardware); cleared by that decode. A
  // backend that cannot substitute reference pixels ignores them.
  virtual void set_reference_overrides(std::vector<ReferenceOverride> overrides) { (void)overrides; }
};

}  // namespace emu
