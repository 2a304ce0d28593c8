#include "planes_api.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace emu {
namespace {

// include/uapi/linux/videodev2.h keeps the *_LAST enumerators for the kernel.
constexpr uint32_t kColorspaceLast = V4L2_COLORSPACE_DCI_P3 + 1;
constexpr uint32_t kXferFuncLast = V4L2_XFER_FUNC_SMPTE2084 + 1;
constexpr uint32_t kYcbcrEncLast = V4L2_YCBCR_ENC_SMPTE240M + 1;

// v4l_sanitize_colorspace() (v4l2-ioctl.c) with the v4l2_is_*_valid()
// helpers of include/media/v4l2-common.h. The formats modelled are YUV, never HSV.
template <typename Enc, typename Quant, typename Xfer>
void sanitize_colorspace(uint32_t& colorspace, Enc& encoding, Quant& quantization, Xfer& xfer) {
  if (colorspace == V4L2_COLORSPACE_DEFAULT || colorspace >= kColorspaceLast) {
    colorspace = V4L2_COLORSPACE_DEFAULT;
    encoding = V4L2_YCBCR_ENC_DEFAULT;
    quantization = V4L2_QUANTIZATION_DEFAULT;
    xfer = V4L2_XFER_FUNC_DEFAULT;
  }
  if (encoding == V4L2_YCBCR_ENC_DEFAULT || encoding >= kYcbcrEncLast)
    encoding = V4L2_YCBCR_ENC_DEFAULT;
  if (quantization != V4L2_QUANTIZATION_FULL_RANGE && quantization != V4L2_QUANTIZATION_LIM_RANGE)
    quantization = V4L2_QUANTIZATION_DEFAULT;
  if (xfer == V4L2_XFER_FUNC_DEFAULT || xfer >= kXferFuncLast) xfer = V4L2_XFER_FUNC_DEFAULT;
}

class Multiplanar : public PlanesApi {
 public:
  uint32_t device_caps() const override { return V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_STREAMING; }
  uint32_t output_type() const override { return V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE; }
  uint32_t capture_type() const override { return V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE; }

  v4l2_pix_format_mplane read_format(const v4l2_format& user) const override {
    v4l2_pix_format_mplane pix = user.fmt.pix_mp;
    // v4l_sanitize_format(): "Make sure num_planes is not bogus".
    pix.num_planes = std::min<uint8_t>(pix.num_planes, VIDEO_MAX_PLANES);
    uint32_t colorspace = pix.colorspace;
    uint8_t encoding = pix.ycbcr_enc, quantization = pix.quantization, xfer = pix.xfer_func;
    sanitize_colorspace(colorspace, encoding, quantization, xfer);
    pix.colorspace = colorspace;
    pix.ycbcr_enc = encoding;
    pix.quantization = quantization;
    pix.xfer_func = xfer;
    // v4l_s_fmt()/v4l_try_fmt(): memset_after() of the reserved fields.
    std::memset(pix.reserved, 0, sizeof(pix.reserved));
    for (auto& plane : pix.plane_fmt) std::memset(plane.reserved, 0, sizeof(plane.reserved));
    return pix;
  }

  void write_format(const v4l2_pix_format_mplane& format, v4l2_format& user) const override {
    std::memset(&user.fmt, 0, sizeof(user.fmt));
    user.fmt.pix_mp = format;
  }

  int requested_sizes(const v4l2_format& user, uint32_t& planes,
                      uint32_t sizes[VIDEO_MAX_PLANES]) const override {
    // vb2_create_bufs(): 1..VIDEO_MAX_PLANES planes, none of size 0.
    planes = user.fmt.pix_mp.num_planes;
    if (planes == 0 || planes > VIDEO_MAX_PLANES) return -EINVAL;
    for (uint32_t p = 0; p < planes; ++p) {
      sizes[p] = user.fmt.pix_mp.plane_fmt[p].sizeimage;
      if (sizes[p] == 0) return -EINVAL;
    }
    return 0;
  }

  int verify_planes(const v4l2_buffer& user, uint32_t num_planes) const override {
    if (!user.m.planes) return -EINVAL;
    if (user.length < num_planes || user.length > VIDEO_MAX_PLANES) return -EINVAL;
    return 0;
  }

  uint32_t bytesused(const v4l2_buffer& user, uint32_t plane) const override {
    return user.m.planes[plane].bytesused;
  }

  int verify_length(const v4l2_buffer& user, const PlaneView* planes,
                    uint32_t num_planes) const override {
    for (uint32_t p = 0; p < num_planes; ++p) {
      const v4l2_plane& given = user.m.planes[p];
      const uint32_t used = given.bytesused ? given.bytesused : planes[p].length;
      if (given.bytesused > planes[p].length) return -EINVAL;
      if (given.data_offset > 0 && given.data_offset >= used) return -EINVAL;
    }
    return 0;
  }

  void write_planes(const PlaneView* planes, uint32_t num_planes,
                    v4l2_buffer& user) const override {
    user.bytesused = 0;
    user.length = num_planes;
    for (uint32_t p = 0; p < num_planes; ++p) {
      v4l2_plane& out = user.m.planes[p];
      std::memset(&out, 0, sizeof(out));
      out.bytesused = planes[p].bytesused;
      out.length = planes[p].length;
      out.m.mem_offset = planes[p].mem_offset;
    }
  }
};

class SinglePlanar : public PlanesApi {
 public:
  uint32_t device_caps() const override { return V4L2_CAP_VIDEO_M2M | V4L2_CAP_STREAMING; }
  uint32_t output_type() const override { return V4L2_BUF_TYPE_VIDEO_OUTPUT; }
  uint32_t capture_type() const override { return V4L2_BUF_TYPE_VIDEO_CAPTURE; }

  v4l2_pix_format_mplane read_format(const v4l2_format& user) const override {
    v4l2_pix_format pix = user.fmt.pix;
    // v4l_sanitize_format(): without V4L2_PIX_FMT_PRIV_MAGIC the fields after
    // `priv` (flags, ycbcr_enc, quantization, xfer_func) are zeroed.
    if (pix.priv != V4L2_PIX_FMT_PRIV_MAGIC) {
      pix.flags = 0;
      pix.ycbcr_enc = 0;
      pix.quantization = 0;
      pix.xfer_func = 0;
    }
    sanitize_colorspace(pix.colorspace, pix.ycbcr_enc, pix.quantization, pix.xfer_func);
    v4l2_pix_format_mplane out{};
    out.width = pix.width;
    out.height = pix.height;
    out.pixelformat = pix.pixelformat;
    out.field = pix.field;
    out.colorspace = pix.colorspace;
    out.plane_fmt[0].bytesperline = pix.bytesperline;
    out.plane_fmt[0].sizeimage = pix.sizeimage;
    out.num_planes = 1;
    out.flags = static_cast<uint8_t>(pix.flags);
    out.ycbcr_enc = static_cast<uint8_t>(pix.ycbcr_enc);
    out.quantization = static_cast<uint8_t>(pix.quantization);
    out.xfer_func = static_cast<uint8_t>(pix.xfer_func);
    return out;
  }

  void write_format(const v4l2_pix_format_mplane& format, v4l2_format& user) const override {
    std::memset(&user.fmt, 0, sizeof(user.fmt));
    v4l2_pix_format& pix = user.fmt.pix;
    pix.width = format.width;
    pix.height = format.height;
    pix.pixelformat = format.pixelformat;
    pix.field = format.field;
    pix.bytesperline = format.plane_fmt[0].bytesperline;
    pix.sizeimage = format.plane_fmt[0].sizeimage;
    pix.colorspace = format.colorspace;
    // v4l_g_fmt()/v4l_s_fmt()/v4l_try_fmt(): "just in case the driver zeroed it again".
    pix.priv = V4L2_PIX_FMT_PRIV_MAGIC;
    pix.flags = format.flags;
    pix.ycbcr_enc = format.ycbcr_enc;
    pix.quantization = format.quantization;
    pix.xfer_func = format.xfer_func;
  }

  int requested_sizes(const v4l2_format& user, uint32_t& planes,
                      uint32_t sizes[VIDEO_MAX_PLANES]) const override {
    // vb2_create_bufs(): one plane of fmt.pix.sizeimage, which must not be 0.
    planes = 1;
    sizes[0] = user.fmt.pix.sizeimage;
    return sizes[0] == 0 ? -EINVAL : 0;
  }

  int verify_planes(const v4l2_buffer&, uint32_t) const override { return 0; }

  uint32_t bytesused(const v4l2_buffer& user, uint32_t) const override { return user.bytesused; }

  int verify_length(const v4l2_buffer& user, const PlaneView* planes, uint32_t) const override {
    return user.bytesused > planes[0].length ? -EINVAL : 0;
  }

  void write_planes(const PlaneView* planes, uint32_t, v4l2_buffer& user) const override {
    // "We use length and offset in v4l2_planes array even for single-planar
    // buffers, but userspace does not."
    user.length = planes[0].length;
    user.bytesused = planes[0].bytesused;
    user.m.offset = planes[0].mem_offset;
  }
};

}  // namespace

const PlanesApi& PlanesApi::multiplanar() {
  static const Multiplanar api;
  return api;
}

const PlanesApi& PlanesApi::single_planar() {
  static const SinglePlanar api;
  return api;
}

int copy_in_plane_array(const v4l2_buffer& user) {
  if (!V4L2_TYPE_IS_MULTIPLANAR(user.type) || user.length == 0) return 0;
  if (user.length > VIDEO_MAX_PLANES) return -EINVAL;
  return user.m.planes ? 0 : -EFAULT;
}

}  // namespace emu
