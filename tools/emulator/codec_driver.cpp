#include "codec_driver.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace emu {
namespace {

// clamp_align() in v4l2-common.c: clamp to the aligned range, round to nearest.
uint32_t clamp_align(uint32_t x, uint32_t min, uint32_t max, uint32_t align_log2) {
  const uint32_t mask = ~((1u << align_log2) - 1);
  x = std::clamp(x, (min + ~mask) & mask, max & mask);
  if (align_log2) x = (x + (1u << (align_log2 - 1))) & mask;
  return x;
}

// clamp_roundup() in v4l2-common.c (what v4l2_apply_frmsize_constraints()
// uses in 6.12): clamp, then round up to the step.
uint32_t clamp_roundup(uint32_t x, uint32_t min, uint32_t max, uint32_t step) {
  x = std::clamp(x, min, max);
  if (step) x = (x + step - 1) / step * step;
  return x;
}

uint32_t align_up(uint32_t x, uint32_t a) { return (x + a - 1) / a * a; }

// The kernel's clamp(): min(max(x, lo), hi), which yields hi when hi < lo.
uint32_t kernel_clamp(uint32_t x, uint32_t lo, uint32_t hi) { return std::min(std::max(x, lo), hi); }

bool contains(const std::vector<uint32_t>& list, uint32_t value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

PictureLayout linear_nv12(const v4l2_pix_format_mplane& format) {
  PictureLayout picture;
  picture.layout = CaptureLayout::NV12;
  picture.width = format.width;
  picture.height = format.height;
  picture.bytesperline = format.plane_fmt[0].bytesperline;
  picture.chroma_offset = static_cast<size_t>(picture.bytesperline) * format.height;
  return picture;
}

// ---------------------------------------------------------------------------
// hantro (hantro_v4l2.c) and rkvdec (rkvdec.c): H264_SLICE (and on hantro
// VP8_FRAME) in, NV12 out, v4l2_fill_pixfmt_mp() sizes plus the driver's
// motion-vector bytes.
class FillPixfmtDriver final : public CodecDriver {
 public:
  explicit FillPixfmtDriver(const HardwareProfile& profile) : profile_(profile) {
    // The variant's coded formats in its hantro_fmt / rkvdec_coded_fmts order.
    coded_.push_back({V4L2_PIX_FMT_H264_SLICE, profile.min_width, profile.max_width, profile.min_height,
                      profile.max_height, profile.step});
    if (profile.vp8_max_width)
      coded_.push_back({V4L2_PIX_FMT_VP8_FRAME, profile.min_width, profile.vp8_max_width, profile.min_height,
                        profile.vp8_max_height, profile.step});
    // The drivers start with their first coded format at the minimum frame size.
    output_.pixelformat = V4L2_PIX_FMT_H264_SLICE;
    try_fmt(Direction::Output, output_);
    reset_capture();
    hold_capture_ = profile.hold_capture == HoldCaptureSupport::FromOpen;
  }

  int enum_fmt(Direction direction, uint32_t index, uint32_t& pixelformat) const override {
    if (direction == Direction::Capture) {
      if (index != 0) return -EINVAL;
      pixelformat = profile_.capture_pixelformat;
      return 0;
    }
    if (index >= coded_.size()) return -EINVAL;
    pixelformat = coded_[index].pixelformat;
    return 0;
  }

  // hantro_try_fmt(): the coded side takes the requested size within the
  // frmsize limits of its format (an unknown coded format becomes the
  // default one, hantro_get_default_fmt()); the CAPTURE side ignores its
  // size and takes OUTPUT's.
  int try_fmt(Direction direction, v4l2_pix_format_mplane& pix) const override {
    const bool capture = direction == Direction::Capture;
    if (capture) {
      pix.pixelformat = profile_.capture_pixelformat;
      pix.width = output_.width;
      pix.height = output_.height;
      pix.colorspace = output_.colorspace;
      pix.ycbcr_enc = output_.ycbcr_enc;
      pix.xfer_func = output_.xfer_func;
      pix.quantization = output_.quantization;
    } else {
      pix.pixelformat = coded_format(pix.pixelformat).pixelformat;
    }
    pix.field = V4L2_FIELD_NONE;
    pix.num_planes = 1;
    // v4l2_apply_frmsize_constraints() with the coded format's frmsize:
    // clamp_roundup(), so a picture of odd size keeps its last rows.
    const CodedFormat& limits = coded_format(capture ? output_.pixelformat : pix.pixelformat);
    pix.width = clamp_roundup(pix.width, limits.min_width, limits.max_width, limits.step);
    pix.height = clamp_roundup(pix.height, limits.min_height, limits.max_height, limits.step);
    v4l2_plane_pix_format& plane = pix.plane_fmt[0];
    if (capture) {
      // v4l2_fill_pixfmt_mp() plus the driver's per-macroblock extra data
      // (hantro_try_fmt, rkvdec_fill_decoded_pixfmt: H.264 motion vectors).
      const uint32_t mbs = ((pix.width + 15) / 16) * ((pix.height + 15) / 16);
      const bool h264 = output_.pixelformat == V4L2_PIX_FMT_H264_SLICE;
      plane.bytesperline = pix.width;
      plane.sizeimage = pix.width * pix.height * 3 / 2 +
                        (h264 ? profile_.capture_extra_per_mb * mbs + profile_.capture_extra_fixed : 0);
    } else {
      plane.bytesperline = 0;
      // hantro/rkvdec: a zero sizeimage on the coded side means "the maximum frame size".
      if (plane.sizeimage == 0) plane.sizeimage = pix.width * pix.height * kCodedMaxDepth;
    }
    return 0;
  }

  int set_fmt(Direction direction, v4l2_pix_format_mplane& pix, const QueueBusy& busy) override {
    if (const int ret = try_fmt(direction, pix)) return ret;
    if (direction == Direction::Output) {
      const bool format_changes = pix.pixelformat != output_.pixelformat;
      if (profile_.output_fmt_busy == OutputFmtBusyRule::HantroLenient) {
        // hantro_set_fmt_out(): a decoder admits resolution changes unless it
        // streams with another pixel format.
        if (busy.output_streaming && format_changes) return -EBUSY;
      } else {
        // dev-stateless-decoder.rst / rkvdec_s_output_fmt(): S_FMT(OUTPUT) resets
        // the CAPTURE format, so it is EBUSY while either queue holds buffers.
        if (busy.output_streaming || (busy.output_allocated && format_changes)) return -EBUSY;
        if (busy.capture_allocated) return -EBUSY;
      }
      output_ = pix;
      reset_capture();
      // hantro_update_requires_hold_capture_buf(), rkvdec_s_output_fmt():
      // only H264_SLICE supports holding CAPTURE buffers.
      hold_capture_ = pix.pixelformat == V4L2_PIX_FMT_H264_SLICE;
      return 0;
    }
    // rkvdec_s_capture_fmt(): EBUSY once CAPTURE has buffers (vb2_is_busy).
    if (profile_.output_fmt_busy == OutputFmtBusyRule::Strict && busy.capture_allocated)
      return -EBUSY;
    capture_ = pix;
    return 0;
  }

  void get_fmt(Direction direction, v4l2_pix_format_mplane& pix) override {
    pix = direction == Direction::Output ? output_ : capture_;
  }

  int enum_framesizes(v4l2_frmsizeenum& sizes) const override {
    // vidioc-enum-framesizes.rst: only the coded formats have sizes, one stepwise range each.
    if (sizes.index != 0) return -EINVAL;
    for (const CodedFormat& format : coded_) {
      if (format.pixelformat != sizes.pixel_format) continue;
      sizes.type = V4L2_FRMSIZE_TYPE_STEPWISE;
      sizes.stepwise = {format.min_width, format.max_width, format.step,
                        format.min_height, format.max_height, format.step};
      return 0;
    }
    return -EINVAL;
  }

  v4l2_pix_format_mplane queue_format(Direction direction) const override {
    return direction == Direction::Output ? output_ : capture_;
  }
  std::optional<PictureLayout> picture_layout() const override { return linear_nv12(capture_); }
  uint32_t coded_width() const override { return output_.width; }
  uint32_t coded_height() const override { return output_.height; }
  bool hold_capture_supported() const override { return hold_capture_; }

 private:
  static constexpr uint32_t kCodedMaxDepth = 2;  // hantro_fmt.max_depth of H264_SLICE and VP8_FRAME

  struct CodedFormat {
    uint32_t pixelformat;
    uint32_t min_width, max_width, min_height, max_height, step;
  };
  // hantro_find_format(), else the default (first) coded format.
  const CodedFormat& coded_format(uint32_t pixelformat) const {
    for (const CodedFormat& format : coded_)
      if (format.pixelformat == pixelformat) return format;
    return coded_.front();
  }

  // hantro_reset_raw_fmt() / rkvdec_reset_decoded_fmt(): setting the OUTPUT
  // format resets CAPTURE to the default format and its size.
  void reset_capture() {
    capture_ = {};
    try_fmt(Direction::Capture, capture_);
  }

  const HardwareProfile& profile_;
  std::vector<CodedFormat> coded_;
  v4l2_pix_format_mplane output_{}, capture_{};
  bool hold_capture_ = false;
};

// ---------------------------------------------------------------------------
// cedrus (drivers/staging/media/sunxi/cedrus/cedrus_video.c, cedrus.c).
class CedrusDriver final : public CodecDriver {
 public:
  CedrusDriver(const HardwareProfile& profile, bool tiled_only) {
    // cedrus_formats[] filtered by the variant's capabilities
    // (cedrus_is_capable): the UNTILED variant modelled is the H6
    // (sun50i_h6_cedrus_variant: MPEG-2, H.264, H.265, VP8, UNTILED); the
    // tiled-only one the A10/A13/A20 (MPEG-2, H.264, VP8, no UNTILED).
    coded_ = tiled_only ? std::vector<uint32_t>{V4L2_PIX_FMT_MPEG2_SLICE, V4L2_PIX_FMT_H264_SLICE,
                                                V4L2_PIX_FMT_VP8_FRAME}
                        : std::vector<uint32_t>{V4L2_PIX_FMT_MPEG2_SLICE, V4L2_PIX_FMT_H264_SLICE,
                                                V4L2_PIX_FMT_HEVC_SLICE, V4L2_PIX_FMT_VP8_FRAME};
    if (!tiled_only) decoded_.push_back(profile.capture_pixelformat);
    decoded_.push_back(profile.tiled_capture_pixelformat);
    // cedrus_open() -> cedrus_reset_out_format(): pixelformat 0 picks the
    // first coded format (MPEG2_SLICE) at the minimum size.
    reset_output();
  }

  int enum_fmt(Direction direction, uint32_t index, uint32_t& pixelformat) const override {
    const std::vector<uint32_t>& list = direction == Direction::Output ? coded_ : decoded_;
    if (index >= list.size()) return -EINVAL;
    pixelformat = list[index];
    return 0;
  }

  int try_fmt(Direction direction, v4l2_pix_format_mplane& pix) const override {
    if (direction == Direction::Output) {
      // cedrus_try_fmt_vid_out_p()
      pix.pixelformat = find_format(coded_, pix.pixelformat);
    } else {
      // cedrus_try_fmt_vid_cap_p(): the size comes from the OUTPUT format.
      pix.pixelformat = find_format(decoded_, pix.pixelformat);
      pix.width = src_.width;
      pix.height = src_.height;
    }
    prepare_format(pix);
    return 0;
  }

  int set_fmt(Direction direction, v4l2_pix_format_mplane& pix, const QueueBusy& busy) override {
    if (direction == Direction::Capture) {
      // cedrus_s_fmt_vid_cap()
      if (busy.capture_allocated) return -EBUSY;
      try_fmt(direction, pix);
      dst_ = pix;
      return 0;
    }
    // cedrus_s_fmt_vid_out(): "the decoder admits a resolution change, as
    // long as the pixelformat remains" (compared before try_fmt adjusts it),
    // and never while CAPTURE has buffers, since CAPTURE is reset.
    if (busy.output_streaming || (busy.output_allocated && pix.pixelformat != src_.pixelformat))
      return -EBUSY;
    if (busy.capture_allocated) return -EBUSY;
    set_output(pix);
    return 0;
  }

  void get_fmt(Direction direction, v4l2_pix_format_mplane& pix) override {
    pix = direction == Direction::Output ? src_ : dst_;
  }

  // cedrus_ioctl_ops has no vidioc_enum_framesizes.
  int enum_framesizes(v4l2_frmsizeenum&) const override { return -ENOTTY; }

  v4l2_pix_format_mplane queue_format(Direction direction) const override {
    return direction == Direction::Output ? src_ : dst_;
  }

  std::optional<PictureLayout> picture_layout() const override {
    // cedrus_dst_buf_addr(): the chroma plane follows bytesperline * height
    // (the aligned height cedrus_prepare_format() stored in the format).
    PictureLayout picture = linear_nv12(dst_);
    if (dst_.pixelformat == V4L2_PIX_FMT_NV12_32L32) picture.layout = CaptureLayout::NV12_32L32;
    return picture;
  }
  uint32_t coded_width() const override { return src_.width; }
  uint32_t coded_height() const override { return src_.height; }
  bool hold_capture_supported() const override { return hold_capture_; }

 private:
  static constexpr uint32_t kMinWidth = 16, kMinHeight = 16;     // CEDRUS_MIN_WIDTH/HEIGHT
  static constexpr uint32_t kMaxWidth = 4096, kMaxHeight = 2304;  // CEDRUS_MAX_WIDTH/HEIGHT
  static constexpr uint32_t kCodedMinSize = 1024;                 // SZ_1K

  // cedrus_find_format(): the requested format, else the first valid one.
  static uint32_t find_format(const std::vector<uint32_t>& list, uint32_t pixelformat) {
    return contains(list, pixelformat) ? pixelformat : list.front();
  }

  // cedrus_prepare_format()
  static void prepare_format(v4l2_pix_format_mplane& pix) {
    pix.field = V4L2_FIELD_NONE;
    pix.num_planes = 1;
    const uint32_t width = std::clamp(pix.width, kMinWidth, kMaxWidth);
    uint32_t height = std::clamp(pix.height, kMinHeight, kMaxHeight);
    v4l2_plane_pix_format& plane = pix.plane_fmt[0];
    switch (pix.pixelformat) {
      case V4L2_PIX_FMT_NV12_32L32:
        // 32-aligned stride and height; the chroma plane has ALIGN(height, 64) / 2 lines.
        plane.bytesperline = align_up(width, 32);
        height = align_up(height, 32);
        plane.sizeimage = plane.bytesperline * height + plane.bytesperline * align_up(height, 64) / 2;
        break;
      case V4L2_PIX_FMT_NV12:
        // 16-aligned stride and height.
        plane.bytesperline = align_up(width, 16);
        height = align_up(height, 16);
        plane.sizeimage = plane.bytesperline * height + plane.bytesperline * height / 2;
        break;
      default:
        // Coded formats: "Zero bytes per line for encoded source", and "Choose
        // some minimum size since this can't be 0".
        plane.bytesperline = 0;
        plane.sizeimage = std::max(kCodedMinSize, plane.sizeimage);
        break;
    }
    pix.width = width;
    pix.height = height;
  }

  void reset_output() {
    v4l2_pix_format_mplane pix = src_;
    pix.pixelformat = 0;
    set_output(pix);
  }

  // cedrus_s_fmt_vid_out_p()
  void set_output(v4l2_pix_format_mplane& pix) {
    try_fmt(Direction::Output, pix);
    src_ = pix;
    // VB2_V4L2_FL_SUPPORTS_M2M_HOLD_CAPTURE_BUF for H264_SLICE and HEVC_SLICE only.
    hold_capture_ = src_.pixelformat == V4L2_PIX_FMT_H264_SLICE ||
                    src_.pixelformat == V4L2_PIX_FMT_HEVC_SLICE;
    // "Propagate format information to capture", then cedrus_reset_cap_format().
    dst_.colorspace = pix.colorspace;
    dst_.xfer_func = pix.xfer_func;
    dst_.ycbcr_enc = pix.ycbcr_enc;
    dst_.quantization = pix.quantization;
    dst_.pixelformat = 0;
    try_fmt(Direction::Capture, dst_);
  }

  std::vector<uint32_t> coded_, decoded_;
  v4l2_pix_format_mplane src_{}, dst_{};
  bool hold_capture_ = false;
};

// ---------------------------------------------------------------------------
// mtk-vcodec's stateless decoder as on MT8183 (mtk_vdec_8183_pdata:
// MTK_VDEC_PURE_SINGLE_CORE, not is_subdev_supported, so
// mtk_init_vdec_params() forces MTK_VDEC_FORMAT_H264_SLICE | MTK_VDEC_FORMAT_MM21;
// H.264 through vdec_h264_req_if.c). Formats and sizes come from
// mtk_vcodec_dec.c, the picture info from vdec_h264_req_if.c get_pic_info().
class MediatekDriver final : public CodecDriver {
 public:
  explicit MediatekDriver(const HardwareProfile& profile) : profile_(profile) {
    // mtk_vcodec_get_supported_formats(): CAPTURE formats first, then OUTPUT;
    // the defaults are the last of each kind.
    formats_ = {{V4L2_PIX_FMT_MM21, Kind::Frame, 2, false},
                {V4L2_PIX_FMT_H264_SLICE, Kind::Coded, 1, true}};
    // mtk_vcodec_dec_set_default_params()
    src_.fmt = &formats_[1];
    src_.visible_width = src_.visible_height = kMinSize;
    src_.sizeimage[0] = kMinSize * kMinSize;
    dst_.fmt = &formats_[0];
    dst_.visible_width = dst_.visible_height = kMinSize;
    dst_.coded_width = dst_.coded_height = kMinSize;
    dst_.sizeimage[0] = kMinSize * kMinSize;
    dst_.bytesperline[0] = kMinSize;
    dst_.sizeimage[1] = dst_.sizeimage[0] / 2;
    dst_.bytesperline[1] = kMinSize;
  }

  // vidioc_enum_fmt(): OUTPUT lists MTK_FMT_DEC formats, CAPTURE the
  // MTK_FMT_FRAME ones mtk_vdec_get_cap_fmt() admits. With MM21 the only
  // frame format, it is always admitted, before and after any SPS.
  int enum_fmt(Direction direction, uint32_t index, uint32_t& pixelformat) const override {
    const Kind wanted = direction == Direction::Output ? Kind::Coded : Kind::Frame;
    uint32_t seen = 0;
    for (const Format& format : formats_) {
      if (format.kind != wanted) continue;
      if (seen++ == index) {
        pixelformat = format.fourcc;
        return 0;
      }
    }
    return -EINVAL;
  }

  // vidioc_try_fmt_vid_cap_mplane() / vidioc_try_fmt_vid_out_mplane()
  int try_fmt(Direction direction, v4l2_pix_format_mplane& pix) const override {
    const Format* format = find_format(pix.pixelformat);
    if (!format) {
      format = queue(direction).fmt;
      pix.pixelformat = format->fourcc;
    }
    if (direction == Direction::Output && pix.plane_fmt[0].sizeimage == 0)
      return -EINVAL;  // "sizeimage of output format must be given"
    apply_try(direction, pix, *format);
    return 0;
  }

  // vidioc_vdec_s_fmt(). Its EBUSY checks only set a local that later code
  // overwrites: with the stateless API S_FMT never fails busy, and the
  // format changes even while the queue has buffers.
  int set_fmt(Direction direction, v4l2_pix_format_mplane& pix, const QueueBusy&) override {
    const Format* format = find_format(pix.pixelformat);
    if (!format) {
      format = direction == Direction::Output ? &formats_[1] : &formats_[0];
      pix.pixelformat = format->fourcc;
    }
    QueueData& q = queue(direction);
    q.fmt = format;
    apply_try(direction, pix, *format);
    if (direction == Direction::Output) {
      q.sizeimage[0] = pix.plane_fmt[0].sizeimage;
      q.coded_width = pix.width;
      q.coded_height = pix.height;
      colorspace_ = pix.colorspace;
      ycbcr_enc_ = pix.ycbcr_enc;
      quantization_ = pix.quantization;
      xfer_func_ = pix.xfer_func;
      if (state_ == State::Free) {
        // vdec_if_init(): only the coded formats have a decoder interface.
        if (format->kind != Kind::Coded) return -EINVAL;
        have_decoder_ = true;
        state_ = State::Init;
      }
    }
    // "S_FMT should have the effect of setting the CAPTURE queue resolution
    // no matter which queue it was called on."
    picinfo_.pic_w = pix.width;
    picinfo_.pic_h = pix.height;
    if (have_decoder_) update_pic_info();  // else vdec_if_get_param() fails with -EIO
    last_decoded_ = picinfo_;
    if (dst_.fmt->num_planes == 1) {
      dst_.sizeimage[0] = picinfo_.fb_sz[0] + picinfo_.fb_sz[1];
      dst_.bytesperline[0] = picinfo_.buf_w;
    } else {
      dst_.sizeimage[0] = picinfo_.fb_sz[0];
      dst_.bytesperline[0] = picinfo_.buf_w;
      dst_.sizeimage[1] = picinfo_.fb_sz[1];
      dst_.bytesperline[1] = picinfo_.buf_w;
    }
    dst_.coded_width = picinfo_.buf_w;
    dst_.coded_height = picinfo_.buf_h;
    return 0;
  }

  // vidioc_vdec_g_fmt()
  void get_fmt(Direction direction, v4l2_pix_format_mplane& pix) override {
    pix.field = V4L2_FIELD_NONE;
    pix.colorspace = colorspace_;
    pix.ycbcr_enc = ycbcr_enc_;
    pix.quantization = quantization_;
    pix.xfer_func = xfer_func_;
    if (direction == Direction::Capture && state_ >= State::Header) {
      // "Until STREAMOFF is called on the CAPTURE queue ... the driver
      // operates as if the resolution hasn't changed yet."
      dst_.sizeimage[0] = picinfo_.fb_sz[0];
      dst_.sizeimage[1] = picinfo_.fb_sz[1];
      dst_.bytesperline[0] = last_decoded_.buf_w;
      dst_.bytesperline[1] = last_decoded_.buf_w;
      dst_.coded_width = picinfo_.buf_w;
      dst_.coded_height = picinfo_.buf_h;
    }
    if (direction == Direction::Output) {
      // The coded size is not reported: "width and height have no meaning".
      pix.width = src_.visible_width;
      pix.height = src_.visible_height;
      pix.plane_fmt[0].bytesperline = src_.bytesperline[0];
      pix.plane_fmt[0].sizeimage = src_.sizeimage[0];
      pix.pixelformat = src_.fmt->fourcc;
      pix.num_planes = static_cast<uint8_t>(src_.fmt->num_planes);
      return;
    }
    pix.width = dst_.coded_width;
    pix.height = dst_.coded_height;
    pix.num_planes = static_cast<uint8_t>(dst_.fmt->num_planes);
    pix.pixelformat = dst_.fmt->fourcc;
    for (int p = 0; p < 2; ++p) {
      pix.plane_fmt[p].bytesperline = dst_.bytesperline[p];
      pix.plane_fmt[p].sizeimage = dst_.sizeimage[p];
    }
  }

  // vidioc_enum_framesizes(): only coded formats have sizes.
  int enum_framesizes(v4l2_frmsizeenum& sizes) const override {
    if (sizes.index != 0) return -EINVAL;
    const Format* format = find_format(sizes.pixel_format);
    if (!format) return -EINVAL;
    if (!format->has_frmsize) return -ENOTTY;
    sizes.type = V4L2_FRMSIZE_TYPE_STEPWISE;
    sizes.stepwise = {profile_.min_width, profile_.max_width, profile_.step,
                      profile_.min_height, profile_.max_height, profile_.step};
    return 0;
  }

  // vb2ops_vdec_queue_setup(): CAPTURE takes the format's plane count, OUTPUT one plane.
  v4l2_pix_format_mplane queue_format(Direction direction) const override {
    const QueueData& q = queue(direction);
    v4l2_pix_format_mplane pix{};
    pix.pixelformat = q.fmt->fourcc;
    pix.num_planes = direction == Direction::Output ? 1 : static_cast<uint8_t>(q.fmt->num_planes);
    for (uint32_t p = 0; p < pix.num_planes; ++p) pix.plane_fmt[p].sizeimage = q.sizeimage[p];
    return pix;
  }

  // vdec_get_cap_buffer(): luma in plane 0, CbCr in plane 1 of an MM21
  // buffer; the firmware lays the picture out with the buffer geometry of
  // get_pic_info() (pitch buf_w, buf_h lines).
  std::optional<PictureLayout> picture_layout() const override {
    if (dst_.fmt->fourcc != V4L2_PIX_FMT_MM21) return std::nullopt;
    PictureLayout picture;
    picture.layout = CaptureLayout::MM21;
    picture.width = picinfo_.buf_w;
    picture.height = picinfo_.buf_h;
    picture.bytesperline = picinfo_.buf_w;
    picture.chroma_plane = 1;
    picture.chroma_offset = 0;
    return picture;
  }

  uint32_t coded_width() const override { return src_.coded_width; }
  uint32_t coded_height() const override { return src_.coded_height; }
  bool hold_capture_supported() const override { return false; }

  // m2mops_vdec_job_ready()
  bool job_ready() const override {
    if (state_ == State::Abort) return false;
    if (last_decoded_.pic_w != picinfo_.pic_w || last_decoded_.pic_h != picinfo_.pic_h)
      return false;
    return state_ == State::Header;
  }

  // vb2ops_vdec_stateless_buf_queue(): the first OUTPUT buffer moves INIT to HEADER.
  void output_buffer_queued() override {
    if (state_ == State::Init) state_ = State::Header;
  }

  // vb2ops_vdec_start_streaming()
  void streaming_started(Direction) override {
    if (state_ == State::Flush) state_ = State::Header;
  }

  // vb2ops_vdec_stop_streaming(): CAPTURE flushes the decoder (vpu_dec_reset)
  // when it has seen a header, and always leaves the instance in FLUSH.
  bool streaming_stopped(Direction direction) override {
    if (direction == Direction::Output) return false;
    const bool flushed = state_ >= State::Header;
    if (flushed) picinfo_ = last_decoded_;
    state_ = State::Flush;
    return flushed;
  }

  // mtk_vdec_s_ctrl() for V4L2_CID_STATELESS_H264_SPS.
  int sps_changed(const v4l2_ctrl_h264_sps& sps) override {
    if (sps.bit_depth_chroma_minus8 == 2 && sps.bit_depth_luma_minus8 == 2)
      ten_bit_ = true;  // is_10bit_bitstream stays set for the instance
    else if (sps.bit_depth_chroma_minus8 != 0 && sps.bit_depth_luma_minus8 != 0)
      return -EINVAL;
    if (!ten_bit_) return 0;
    // No MT2110R among MT8183's formats: the CAPTURE format stays; then
    // mtk_vcodec_get_pic_info().
    if (dst_.fmt->num_planes == 1) return -EINVAL;
    if (!have_decoder_) return -EIO;
    update_pic_info();
    last_decoded_ = picinfo_;
    dst_.sizeimage[0] = picinfo_.fb_sz[0];
    dst_.bytesperline[0] = picinfo_.buf_w * 5 / 4;
    dst_.sizeimage[1] = picinfo_.fb_sz[1];
    dst_.bytesperline[1] = picinfo_.buf_w * 5 / 4;
    dst_.coded_width = picinfo_.buf_w;
    dst_.coded_height = picinfo_.buf_h;
    return 0;
  }

  // mtk_vdec_worker() -> vdec_if_decode(): without a decoder instance
  // (S_FMT(OUTPUT) never succeeded) the decode fails with -EIO ...
  bool decoder_ready() const override { return have_decoder_; }
  // ... which marks the OUTPUT buffer, and vb2ops_vdec_buf_finish() turns
  // that into MTK_STATE_ABORT when the buffer is dequeued ...
  void output_buffer_failed_io() override { state_ = State::Abort; }
  // ... after which vidioc_vdec_qbuf()/vidioc_vdec_dqbuf() fail with EIO.
  int queue_ioctl_refused() const override { return state_ == State::Abort ? -EIO : 0; }

 private:
  static constexpr uint32_t kMinSize = 64;  // MTK_VDEC_MIN_W/H, DFT_CFG_WIDTH/HEIGHT
  static constexpr uint32_t kAlign = 64;    // VCODEC_DEC_ALIGNED_64

  enum class Kind { Coded, Frame };  // MTK_FMT_DEC, MTK_FMT_FRAME
  enum class State { Free, Init, Header, Flush, Abort };  // enum mtk_instance_state
  struct Format {
    uint32_t fourcc;
    Kind kind;
    uint32_t num_planes;
    bool has_frmsize;
  };
  // struct mtk_q_data
  struct QueueData {
    const Format* fmt = nullptr;
    uint32_t visible_width = 0, visible_height = 0;
    uint32_t coded_width = 0, coded_height = 0;
    uint32_t sizeimage[2] = {0, 0};
    uint32_t bytesperline[2] = {0, 0};
  };
  // struct vdec_pic_info
  struct PicInfo {
    uint32_t pic_w = 0, pic_h = 0, buf_w = 0, buf_h = 0;
    uint32_t fb_sz[2] = {0, 0};
  };

  const QueueData& queue(Direction direction) const {
    return direction == Direction::Output ? src_ : dst_;
  }
  QueueData& queue(Direction direction) { return direction == Direction::Output ? src_ : dst_; }

  // mtk_vdec_find_format(): searched across both kinds of formats.
  const Format* find_format(uint32_t fourcc) const {
    for (const Format& format : formats_)
      if (format.fourcc == fourcc) return &format;
    return nullptr;
  }

  // vidioc_try_fmt()
  void apply_try(Direction direction, v4l2_pix_format_mplane& pix, const Format& format) const {
    pix.field = V4L2_FIELD_NONE;
    // "Always apply frame size constraints from the coded side."
    const bool frmsize = direction == Direction::Output ? format.has_frmsize
                                                        : src_.fmt->has_frmsize;
    const uint32_t max_w = frmsize ? profile_.max_width : 0;
    const uint32_t max_h = frmsize ? profile_.max_height : 0;
    pix.width = kernel_clamp(pix.width, kMinSize, max_w);
    pix.height = kernel_clamp(pix.height, kMinSize, max_h);
    if (direction == Direction::Output) {
      pix.num_planes = 1;
      pix.plane_fmt[0].bytesperline = 0;
    } else {
      // v4l_bound_align_image() to 64x64 (its 2^9 size alignment is then
      // already met), then one more 64 when that rounded down and fits.
      const uint32_t wanted_w = pix.width, wanted_h = pix.height;
      pix.width = clamp_align(pix.width, kMinSize, max_w, 6);
      pix.height = clamp_align(pix.height, kMinSize, max_h, 6);
      if (pix.width < wanted_w && pix.width + 64 <= max_w) pix.width += 64;
      if (pix.height < wanted_h && pix.height + 64 <= max_h) pix.height += 64;
      pix.num_planes = static_cast<uint8_t>(format.num_planes);
      pix.plane_fmt[0].sizeimage = pix.width * pix.height;
      pix.plane_fmt[0].bytesperline = pix.width;
      if (pix.num_planes == 2) {
        pix.plane_fmt[1].sizeimage = pix.width * pix.height / 2;
        pix.plane_fmt[1].bytesperline = pix.width;
      }
    }
    pix.flags = 0;
  }

  // vdec_h264_req_if.c get_pic_info()
  void update_pic_info() {
    picinfo_.buf_w = align_up(picinfo_.pic_w, kAlign);
    picinfo_.buf_h = align_up(picinfo_.pic_h, kAlign);
    picinfo_.fb_sz[0] = picinfo_.buf_w * picinfo_.buf_h;
    picinfo_.fb_sz[1] = picinfo_.fb_sz[0] >> 1;
  }

  const HardwareProfile& profile_;
  std::vector<Format> formats_;
  QueueData src_, dst_;
  PicInfo picinfo_, last_decoded_;
  State state_ = State::Free;
  bool have_decoder_ = false;  // ctx->drv_handle
  bool ten_bit_ = false;       // ctx->is_10bit_bitstream
  uint32_t colorspace_ = V4L2_COLORSPACE_REC709;
  uint8_t ycbcr_enc_ = V4L2_YCBCR_ENC_DEFAULT;
  uint8_t quantization_ = V4L2_QUANTIZATION_DEFAULT;
  uint8_t xfer_func_ = V4L2_XFER_FUNC_DEFAULT;
};

}  // namespace

void describe_format(uint32_t pixelformat, v4l2_fmtdesc& desc) {
  const char* description = "";
  uint32_t flags = 0;
  switch (pixelformat) {
    case V4L2_PIX_FMT_NV12: description = "Y/UV 4:2:0"; break;
    case V4L2_PIX_FMT_NV12_32L32: description = "Y/UV 4:2:0 (32x32 Linear)"; break;
    case V4L2_PIX_FMT_MM21: description = "Mediatek 8-bit Block Format"; break;
    default:
      flags = V4L2_FMT_FLAG_COMPRESSED;
      switch (pixelformat) {
        case V4L2_PIX_FMT_H264_SLICE: description = "H.264 Parsed Slice Data"; break;
        case V4L2_PIX_FMT_MPEG2_SLICE: description = "MPEG-2 Parsed Slice Data"; break;
        case V4L2_PIX_FMT_VP8_FRAME: description = "VP8 Frame"; break;
        case V4L2_PIX_FMT_HEVC_SLICE: description = "HEVC Parsed Slice Data"; break;
        default: break;
      }
  }
  std::strncpy(reinterpret_cast<char*>(desc.description), description,
               sizeof(desc.description) - 1);
  desc.flags |= flags;
}

std::unique_ptr<CodecDriver> CodecDriver::create(const HardwareProfile& profile, bool cedrus_tiled) {
  switch (profile.format_rules) {
    case FormatRules::FillPixfmt: return std::make_unique<FillPixfmtDriver>(profile);
    case FormatRules::Cedrus: return std::make_unique<CedrusDriver>(profile, cedrus_tiled);
    case FormatRules::Mediatek: return std::make_unique<MediatekDriver>(profile);
  }
  return nullptr;
}

}  // namespace emu
