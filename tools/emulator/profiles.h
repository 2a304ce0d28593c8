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
  Hantro,    // hantro_try_ctrl: 4:0:0/4:2:0, 8-bit, equal luma/chroma depth
  Rkvdec,    // rkvdec_h264_validate_sps: as hantro, plus SPS size <= OUTPUT format
  Cedrus,    // cedrus_try_ctrl: 4:2:0 only, 8-bit
  Mediatek,  // no try_ctrl; mtk_vdec_s_ctrl() checks the bit depths when the SPS is set
};

// struct video_device.device_caps: V4L2_CAP_VIDEO_M2M_MPLANE or V4L2_CAP_VIDEO_M2M.
enum class PlanesApiKind { Multiplanar, SinglePlanar };

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
  // mtk-vcodec never sets the flag on its OUTPUT queue.
  Never,
};

// Whose format ioctls (ENUM_FMT, G/S/TRY_FMT, ENUM_FRAMESIZES) and queue
// sizes the device has: codec_driver.cpp models each.
enum class FormatRules {
  // hantro_v4l2.c / rkvdec.c: v4l2_fill_pixfmt_mp() on the frmsize-aligned
  // size, plus the driver's per-macroblock extra bytes.
  FillPixfmt,
  // cedrus_video.c: cedrus_prepare_format(), variant format lists.
  Cedrus,
  // mtk_vcodec_dec.c + mtk_vcodec_dec_stateless.c + vdec_h264_req_if.c:
  // MM21 sized from the picture info, the instance state machine.
  Mediatek,
};

struct HardwareProfile {
  std::string_view name;         // V4L2_EMU_PROFILE value
  std::string_view driver;       // QUERYCAP driver / MEDIA_IOC_DEVICE_INFO driver
  std::string_view card;         // QUERYCAP card
  std::string_view video_name;   // video_device.name: the media entities' name prefix
  std::string_view model;        // media device model
  std::string_view bus_info;     // QUERYCAP and MEDIA_IOC_DEVICE_INFO bus_info
  PlanesApiKind planes_api;
  uint32_t min_width, max_width, min_height, max_height, step;  // H264_SLICE frmsize
  bool enum_framesizes;          // VIDIOC_ENUM_FRAMESIZES implemented (cedrus: ENOTTY)
  // OUTPUT sizeimage floor (cedrus: SZ_1K). 0: the hantro/rkvdec rule, a
  // zero sizeimage becomes width * height * 2.
  uint32_t coded_min_sizeimage;
  // Linear V4L2_PIX_FMT_NV12, the default when offered; 0 if never (mtk).
  uint32_t capture_pixelformat;
  // A tiled format offered after it (cedrus: V4L2_PIX_FMT_NV12_32L32; mtk:
  // V4L2_PIX_FMT_MM21, its only one), 0 if none. Cedrus variants without
  // CEDRUS_CAPABILITY_UNTILED offer only this one.
  uint32_t tiled_capture_pixelformat;
  FormatRules format_rules;
  int32_t decode_mode_min, decode_mode_max, decode_mode_def;  // V4L2_STATELESS_H264_DECODE_MODE_*
  int32_t start_code_min, start_code_max, start_code_def;     // V4L2_STATELESS_H264_START_CODE_*
  int32_t h264_profile_min, h264_profile_max, h264_profile_def;
  uint64_t h264_profile_skip_mask;
  std::optional<int32_t> h264_level_max;  // level menu present when set (min 1.0)
  int32_t h264_level_def;
  bool slice_controls;        // SLICE_PARAMS + PRED_WEIGHTS exist (slice-based hw)
  HoldCaptureSupport hold_capture;
  bool one_buffer_per_request;  // request_validate: >1 buffer -> EINVAL at QUEUE
  SpsCheck sps_check;
  OutputFmtBusyRule output_fmt_busy;
  // Extra bytes the driver appends to each CAPTURE buffer per macroblock
  // (motion vectors) and as a fixed tail: hantro_h264_mv_size, rkvdec 128/MB.
  uint32_t capture_extra_per_mb;
  uint32_t capture_extra_fixed;
  // vb2_queue.allow_cache_hints: REQBUFS/CREATE_BUFS report
  // V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS (mtk_vcodec_dec_queue_init).
  bool mmap_cache_hints;
  // V4L2_PIX_FMT_VP8_FRAME on the OUTPUT queue (after H264_SLICE) and the
  // V4L2_CID_STATELESS_VP8_FRAME control, with its frmsize; 0 if the
  // variant has no VP8 decoder.
  uint32_t vp8_max_width = 0, vp8_max_height = 0;
};

const HardwareProfile* find_profile(std::string_view name);
const std::vector<const HardwareProfile*>& all_profiles();

}  // namespace emu
