// Hardware profiles: what one real stateless H.264 decoder driver exposes and
// enforces. Adding a driver is one table entry in profiles.cpp; the few
// behaviours that are code rather than data are switched by the flags here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace emu {

enum class SpsCheck {
  Hantro,  // hantro_try_ctrl: 4:0:0/4:2:0, 8-bit, equal luma/chroma depth
  Rkvdec,  // rkvdec_h264_validate_sps: as hantro, plus SPS size <= OUTPUT format
  Cedrus,  // cedrus_try_ctrl: 4:2:0 only, 8-bit
};

enum class OutputFmtBusyRule {
  // hantro_set_fmt_out (decoder): EBUSY only while OUTPUT streams and the
  // pixel format changes; buffers on either queue do not block it.
  HantroLenient,
  // rkvdec_s_output_fmt / cedrus_s_fmt_vid_out: EBUSY while OUTPUT streams,
  // when OUTPUT has buffers and the pixel format changes, or when CAPTURE has buffers.
  Strict,
};

// When the OUTPUT queue gets VB2_V4L2_FL_SUPPORTS_M2M_HOLD_CAPTURE_BUF (and
// REQBUFS/CREATE_BUFS report V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF).
// All three drivers set it for H264_SLICE; they differ in when.
enum class HoldCaptureSupport {
  // hantro_reset_encoded_fmt() -> hantro_set_fmt_out() at open already runs
  // hantro_update_requires_hold_capture_buf() for the default coded format,
  // which is H264_SLICE on a variant whose only coded format is H.264.
  FromOpen,
  // rkvdec_s_output_fmt() / cedrus_s_fmt_vid_out_p(): only an S_FMT(OUTPUT)
  // to H264_SLICE sets the flag (their open-time reset does not, or resets
  // to MPEG2_SLICE on Cedrus).
  AfterOutputFormatSet,
};

// How a driver sizes its CAPTURE (decoded) format from the OUTPUT size.
enum class CaptureSizing {
  // v4l2_fill_pixfmt_mp() on the frmsize-aligned size, plus the driver's
  // per-macroblock extra bytes (hantro_try_fmt, rkvdec_reset_decoded_fmt).
  FillPixfmt,
  // cedrus_prepare_format(): NV12 16-aligned stride and height; NV12_32L32
  // 32-aligned stride and height, chroma plane of ALIGN(height, 64) / 2 lines.
  Cedrus,
};

struct HardwareProfile {
  std::string_view name;         // V4L2_EMU_PROFILE value
  std::string_view driver;       // QUERYCAP driver / MEDIA_IOC_DEVICE_INFO driver
  std::string_view card;         // QUERYCAP card (the video_device name)
  std::string_view model;        // media device model
  uint32_t min_width, max_width, min_height, max_height, step;  // H264_SLICE frmsize
  bool enum_framesizes;          // VIDIOC_ENUM_FRAMESIZES implemented (cedrus: ENOTTY)
  // OUTPUT sizeimage floor (cedrus: SZ_1K). 0: the hantro/rkvdec rule, a
  // zero sizeimage becomes width * height * 2.
  uint32_t coded_min_sizeimage;
  uint32_t capture_pixelformat;  // linear V4L2_PIX_FMT_NV12, the default when offered
  // A tiled format offered after it (cedrus: V4L2_PIX_FMT_NV12_32L32), 0 if none.
  // Cedrus variants without CEDRUS_CAPABILITY_UNTILED offer only this one.
  uint32_t tiled_capture_pixelformat;
  CaptureSizing capture_sizing;
  int32_t decode_mode_min, decode_mode_max, decode_mode_def;  // V4L2_STATELESS_H264_DECODE_MODE_*
  int32_t start_code_min, start_code_max, start_code_def;     // V4L2_STATELESS_H264_START_CODE_*
  int32_t h264_profile_min, h264_profile_max, h264_profile_def;
  uint64_t h264_profile_skip_mask;
  std::optional<int32_t> h264_level_max;  // level menu present when set (min 1.0)
  bool slice_controls;        // SLICE_PARAMS + PRED_WEIGHTS exist (slice-based hw)
  HoldCaptureSupport hold_capture;
  bool one_buffer_per_request;  // request_validate: >1 buffer -> EINVAL at QUEUE
  SpsCheck sps_check;
  OutputFmtBusyRule output_fmt_busy;
  // Extra bytes the driver appends to each CAPTURE buffer per macroblock
  // (motion vectors) and as a fixed tail: hantro_h264_mv_size, rkvdec 128/MB.
  uint32_t capture_extra_per_mb;
  uint32_t capture_extra_fixed;
};

const HardwareProfile* find_profile(std::string_view name);
const std::vector<const HardwareProfile*>& all_profiles();

}  // namespace emu
