#include "profiles.h"

#include <linux/videodev2.h>

#include <array>

namespace emu {
namespace {

constexpr int32_t kFrameBased = V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED;
constexpr int32_t kSliceBased = V4L2_STATELESS_H264_DECODE_MODE_SLICE_BASED;
constexpr int32_t kAnnexB = V4L2_STATELESS_H264_START_CODE_ANNEX_B;
constexpr int32_t kNoStartCode = V4L2_STATELESS_H264_START_CODE_NONE;
constexpr uint64_t kSkipExtended = 1ull << V4L2_MPEG_VIDEO_H264_PROFILE_EXTENDED;

constexpr uint64_t kSkipBaselineExtended =
    (1ull << V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE) | kSkipExtended;

// Values from drivers/media/platform/verisilicon/{hantro_drv.c,rockchip_vpu_hw.c,
// hantro_hw.h}, drivers/staging/media/rkvdec/rkvdec.c,
// drivers/staging/media/sunxi/cedrus/cedrus.c and
// drivers/media/platform/mediatek/vcodec/decoder/ (Linux 6.12).
constexpr std::array<HardwareProfile, 4> kProfiles{{
    {
        .name = "hantro",
        .driver = "hantro-vpu",
        .card = "rockchip,rk3399-vpu-dec",
        .video_name = "rockchip,rk3399-vpu-dec",
        .model = "hantro-vpu",
        .bus_info = "platform:hantro-vpu",
        .planes_api = PlanesApiKind::Multiplanar,
        .min_width = 48, .max_width = 1920, .min_height = 48, .max_height = 1088, .step = 16,
        .enum_framesizes = true,
        .coded_min_sizeimage = 0,
        .capture_pixelformat = V4L2_PIX_FMT_NV12,
        .tiled_capture_pixelformat = 0,
        .format_rules = FormatRules::FillPixfmt,
        .decode_mode_min = kFrameBased, .decode_mode_max = kFrameBased, .decode_mode_def = kFrameBased,
        .start_code_min = kAnnexB, .start_code_max = kAnnexB, .start_code_def = kAnnexB,
        .h264_profile_min = V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE,
        .h264_profile_max = V4L2_MPEG_VIDEO_H264_PROFILE_HIGH,
        .h264_profile_def = V4L2_MPEG_VIDEO_H264_PROFILE_MAIN,
        .h264_profile_skip_mask = kSkipExtended,
        .h264_level_max = V4L2_MPEG_VIDEO_H264_LEVEL_5_1,
        .h264_level_def = V4L2_MPEG_VIDEO_H264_LEVEL_1_0,
        .slice_controls = false,
        .hold_capture = HoldCaptureSupport::FromOpen,
        .one_buffer_per_request = false,  // vb2_request_validate counts no maximum
        .sps_check = SpsCheck::Hantro,
        .output_fmt_busy = OutputFmtBusyRule::HantroLenient,
        .capture_extra_per_mb = 64,  // hantro_h264_mv_size: 64 * MBs + 32
        .capture_extra_fixed = 32,
        .mmap_cache_hints = false,
        // rockchip_vpu_hw.c rk3288_vpu_dec_fmts[] / rk3399_vpu_dec_fmts[] and
        // imx8m_vpu_hw.c imx8m_vpu_dec_fmts[] (G1): VP8_FRAME up to
        // FMT_UHD_WIDTH x FMT_UHD_HEIGHT, step MB_DIM (HANTRO_VP8_DECODER).
        .vp8_max_width = 3840, .vp8_max_height = 2160,
    },
    {
        .name = "rkvdec",
        .driver = "rkvdec",
        .card = "rkvdec",
        .video_name = "rkvdec",
        .model = "rkvdec",
        .bus_info = "platform:rkvdec",
        .planes_api = PlanesApiKind::Multiplanar,
        .min_width = 48, .max_width = 4096, .min_height = 48, .max_height = 2304, .step = 16,
        .enum_framesizes = true,
        .coded_min_sizeimage = 0,
        .capture_pixelformat = V4L2_PIX_FMT_NV12,
        .tiled_capture_pixelformat = 0,
        .format_rules = FormatRules::FillPixfmt,
        .decode_mode_min = kFrameBased, .decode_mode_max = kFrameBased, .decode_mode_def = kFrameBased,
        .start_code_min = kAnnexB, .start_code_max = kAnnexB, .start_code_def = kAnnexB,
        .h264_profile_min = V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE,
        .h264_profile_max = V4L2_MPEG_VIDEO_H264_PROFILE_HIGH,
        .h264_profile_def = V4L2_MPEG_VIDEO_H264_PROFILE_MAIN,
        .h264_profile_skip_mask = kSkipExtended,
        .h264_level_max = V4L2_MPEG_VIDEO_H264_LEVEL_5_1,
        .h264_level_def = V4L2_MPEG_VIDEO_H264_LEVEL_1_0,
        .slice_controls = false,
        .hold_capture = HoldCaptureSupport::AfterOutputFormatSet,  // rkvdec_coded_fmts[].subsystem_flags
        .one_buffer_per_request = true,  // rkvdec_request_validate
        .sps_check = SpsCheck::Rkvdec,
        .output_fmt_busy = OutputFmtBusyRule::Strict,
        .capture_extra_per_mb = 128,  // rkvdec_reset_decoded_fmt: 128 bytes per MB
        .capture_extra_fixed = 0,
        .mmap_cache_hints = false,
    },
    {
        .name = "cedrus",
        .driver = "cedrus",
        .card = "cedrus",
        .video_name = "cedrus",
        .model = "cedrus",
        .bus_info = "platform:cedrus",  // cedrus_querycap(), and mdev.bus_info in cedrus_probe()
        // cedrus_video_device.device_caps = V4L2_CAP_VIDEO_M2M | V4L2_CAP_STREAMING
        .planes_api = PlanesApiKind::SinglePlanar,
        // cedrus_video.c: CEDRUS_{MIN,MAX}_{WIDTH,HEIGHT}, clamped without alignment
        // by cedrus_prepare_format(); no vidioc_enum_framesizes.
        .min_width = 16, .max_width = 4096, .min_height = 16, .max_height = 2304, .step = 1,
        .enum_framesizes = false,
        .coded_min_sizeimage = 1024,  // cedrus_prepare_format: max(SZ_1K, sizeimage)
        .capture_pixelformat = V4L2_PIX_FMT_NV12,  // CEDRUS_CAPABILITY_UNTILED (e.g. H6)
        .tiled_capture_pixelformat = V4L2_PIX_FMT_NV12_32L32,
        .format_rules = FormatRules::Cedrus,
        .decode_mode_min = kSliceBased, .decode_mode_max = kSliceBased, .decode_mode_def = kSliceBased,
        .start_code_min = kNoStartCode, .start_code_max = kNoStartCode, .start_code_def = kNoStartCode,
        .h264_profile_min = V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE,
        .h264_profile_max = V4L2_MPEG_VIDEO_H264_PROFILE_HIGH,
        .h264_profile_def = V4L2_MPEG_VIDEO_H264_PROFILE_MAIN,
        .h264_profile_skip_mask = kSkipExtended,
        .h264_level_max = std::nullopt,
        .h264_level_def = 0,
        .slice_controls = true,
        .hold_capture = HoldCaptureSupport::AfterOutputFormatSet,
        .one_buffer_per_request = true,  // cedrus_request_validate
        .sps_check = SpsCheck::Cedrus,
        .output_fmt_busy = OutputFmtBusyRule::Strict,
        .capture_extra_per_mb = 0,
        .capture_extra_fixed = 0,
        .mmap_cache_hints = false,
        // cedrus_formats[]: V4L2_PIX_FMT_VP8_FRAME with CEDRUS_CAPABILITY_VP8_DEC
        // (every variant modelled), CEDRUS_MAX_WIDTH/HEIGHT as for H.264.
        .vp8_max_width = 4096, .vp8_max_height = 2304,
    },
    {
        // mtk-vcodec's stateless decoder as on MT8183 ("mediatek,mt8183-vcodec-dec":
        // mtk_vdec_8183_pdata, MTK_VDEC_PURE_SINGLE_CORE, vdec_h264_req_if.c).
        .name = "mediatek",
        .driver = "mtk-vcodec-dec",      // MTK_VCODEC_DEC_NAME, the platform driver's name
        .card = "MT8183 video decoder",  // vidioc_vdec_querycap(): "MT%d video decoder"
        .video_name = "mtk-vcodec-dec",
        .model = "mtk-vcodec-dec",
        // media_set_bus_info() of the platform device (mt8183.dtsi video-codec@16020000).
        .bus_info = "platform:16020000.video-codec",
        .planes_api = PlanesApiKind::Multiplanar,
        // stepwise_fhd with MTK_VDEC_MIN_W/H 64 and, without
        // VCODEC_CAPABILITY_4K_DISABLED, VCODEC_DEC_4K_CODED_WIDTH/HEIGHT.
        .min_width = 64, .max_width = 4096, .min_height = 64, .max_height = 2304, .step = 16,
        .enum_framesizes = true,
        .coded_min_sizeimage = 0,
        .capture_pixelformat = 0,
        .tiled_capture_pixelformat = V4L2_PIX_FMT_MM21,
        .format_rules = FormatRules::Mediatek,
        .decode_mode_min = kFrameBased, .decode_mode_max = kFrameBased, .decode_mode_def = kFrameBased,
        .start_code_min = kAnnexB, .start_code_max = kAnnexB, .start_code_def = kAnnexB,
        // mtk_stateless_controls[] with mtk_vcodec_dec_fill_h264_profile/level() for MT8183.
        .h264_profile_min = V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE,
        .h264_profile_max = V4L2_MPEG_VIDEO_H264_PROFILE_HIGH,
        .h264_profile_def = V4L2_MPEG_VIDEO_H264_PROFILE_MAIN,
        .h264_profile_skip_mask = kSkipBaselineExtended,
        .h264_level_max = V4L2_MPEG_VIDEO_H264_LEVEL_4_2,
        .h264_level_def = V4L2_MPEG_VIDEO_H264_LEVEL_4_1,
        .slice_controls = false,
        .hold_capture = HoldCaptureSupport::Never,
        .one_buffer_per_request = true,  // fops_media_request_validate
        .sps_check = SpsCheck::Mediatek,
        .output_fmt_busy = OutputFmtBusyRule::HantroLenient,  // unused: vidioc_vdec_s_fmt never fails busy
        .capture_extra_per_mb = 0,
        .capture_extra_fixed = 0,
        .mmap_cache_hints = true,
    },
}};

}  // namespace

const HardwareProfile* find_profile(std::string_view name) {
  for (const auto& profile : kProfiles)
    if (profile.name == name) return &profile;
  return nullptr;
}

const std::vector<const HardwareProfile*>& all_profiles() {
  static const std::vector<const HardwareProfile*> list = [] {
    std::vector<const HardwareProfile*> out;
    for (const auto& profile : kProfiles) out.push_back(&profile);
    return out;
  }();
  return list;
}

}  // namespace emu
