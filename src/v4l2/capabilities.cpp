#include "v4l2/capabilities.h"

#include <linux/v4l2-controls.h>
#include <linux/videodev2.h>

#include <algorithm>
#include <memory>
#include <string>

#include "v4l2/device.h"
#include "v4l2/picture_layout.h"

namespace v4l2va {
namespace {

// Menu items a control offers: QUERYMENU succeeds only for valid items
// (Documentation/userspace-api/media/v4l/vidioc-queryctrl.rst).
std::vector<int64_t> menu_items(const VideoDevice& dev, uint32_t id) {
  std::vector<int64_t> items;
  v4l2_query_ext_ctrl q{};
  q.id = id;
  if (xioctl(dev.fd(), VIDIOC_QUERY_EXT_CTRL, &q)) return items;
  for (int64_t i = q.minimum; i <= q.maximum; ++i) {
    v4l2_querymenu m{};
    m.id = id;
    m.index = static_cast<uint32_t>(i);
    if (xioctl(dev.fd(), VIDIOC_QUERYMENU, &m) == 0) items.push_back(i);
  }
  return items;
}

bool has_control(const VideoDevice& dev, uint32_t id) {
  v4l2_query_ext_ctrl q{};
  q.id = id;
  return xioctl(dev.fd(), VIDIOC_QUERY_EXT_CTRL, &q) == 0 && !(q.flags & V4L2_CTRL_FLAG_DISABLED);
}

}  // namespace

VAStatus probe_decoder(const std::string& video_path, const std::string& media_path, Log& log,
                       DecoderCapabilities& out) {
  out = DecoderCapabilities{};
  out.video_path = video_path;
  out.media_path = media_path;
  std::unique_ptr<VideoDevice> dev;
  if (VAStatus st = VideoDevice::open(video_path, log, dev); st != VA_STATUS_SUCCESS) return st;

  v4l2_capability cap{};
  if (int err = dev->call(VIDIOC_QUERYCAP, &cap, "VIDIOC_QUERYCAP", "device")) return status_from_errno(err);
  out.driver_name = reinterpret_cast<const char*>(cap.driver);
  uint32_t caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
  // Hantro, rkvdec and mtk-vcodec are multiplanar; cedrus is single-planar
  // (its video_device has V4L2_CAP_VIDEO_M2M, cedrus.c).
  if (!(caps & (V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_VIDEO_M2M)) || !(caps & V4L2_CAP_STREAMING)) {
    log.errorf("%s (%s) rejected: not a memory-to-memory streaming device (caps 0x%08x)", video_path.c_str(),
               out.driver_name.c_str(), caps);
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }
  out.planes = (caps & V4L2_CAP_VIDEO_M2M_MPLANE) ? PlanesApi::Multi : PlanesApi::Single;
  Queue output(*dev, out.planes, Queue::Direction::Output);
  Queue capture(*dev, out.planes, Queue::Direction::Capture);

  for (uint32_t format : output.enum_formats())
    if (format == V4L2_PIX_FMT_H264_SLICE) out.h264 = true;
  if (!out.h264) {
    log.errorf("%s (%s) rejected: OUTPUT queue does not offer H264_SLICE", video_path.c_str(),
               out.driver_name.c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }

  // The CAPTURE formats follow the OUTPUT format (dev-stateless-decoder.rst,
  // "Initialization"): set H264_SLICE on this private instance, then look
  // for a linear NV12 layout the driver can present as VA surfaces.
  {
    if (VAStatus st = output.set_format(V4L2_PIX_FMT_H264_SLICE, 176, 144, 0); st != VA_STATUS_SUCCESS) return st;
    out.capture_formats = capture.enum_formats();
    const bool readable = std::any_of(out.capture_formats.begin(), out.capture_formats.end(),
                                      [](uint32_t f) { return is_supported_capture_format(f); });
    if (!readable) {
      std::string offered;
      for (uint32_t f : out.capture_formats) {
        const char text[5] = {char(f & 0xff), char((f >> 8) & 0xff), char((f >> 16) & 0xff), char(f >> 24), 0};
        offered += std::string(offered.empty() ? "" : ", ") + text;
      }
      log.errorf("%s (%s) rejected: CAPTURE offers none of NV12, NV12M, NV12_32L32, MM21 (offers: %s)",
                 video_path.c_str(), out.driver_name.c_str(), offered.empty() ? "nothing" : offered.c_str());
      out.h264 = false;
      return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
    }
  }

  v4l2_frmsizeenum fs{};
  fs.index = 0;
  fs.pixel_format = V4L2_PIX_FMT_H264_SLICE;
  if (xioctl(dev->fd(), VIDIOC_ENUM_FRAMESIZES, &fs) == 0) {
    if (fs.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
      out.max_width = out.min_width = fs.discrete.width;
      out.max_height = out.min_height = fs.discrete.height;
    } else {
      out.min_width = fs.stepwise.min_width;
      out.min_height = fs.stepwise.min_height;
      out.max_width = fs.stepwise.max_width;
      out.max_height = fs.stepwise.max_height;
    }
  } else {
    // No size enumeration: ask the device to clamp an oversized format
    // (TRY_FMT adjusts rather than fails, vidioc-g-fmt.rst).
    Result<Format> clamped = output.try_format(V4L2_PIX_FMT_H264_SLICE, 16384, 16384);
    if (!clamped.ok()) return clamped.status();
    out.max_width = clamped->width;
    out.max_height = clamped->height;
    log.infof("%s: no VIDIOC_ENUM_FRAMESIZES; VIDIOC_TRY_FMT clamps to %ux%u", video_path.c_str(), out.max_width,
              out.max_height);
  }

  for (int64_t m : menu_items(*dev, V4L2_CID_STATELESS_H264_DECODE_MODE)) {
    if (m == V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED) out.frame_based = true;
    if (m == V4L2_STATELESS_H264_DECODE_MODE_SLICE_BASED) out.slice_based = true;
  }
  for (int64_t m : menu_items(*dev, V4L2_CID_STATELESS_H264_START_CODE)) {
    if (m == V4L2_STATELESS_H264_START_CODE_ANNEX_B) out.annex_b = true;
    if (m == V4L2_STATELESS_H264_START_CODE_NONE) out.no_start_code = true;
  }
  if (!has_control(*dev, V4L2_CID_STATELESS_H264_SPS) || !has_control(*dev, V4L2_CID_STATELESS_H264_PPS) ||
      !has_control(*dev, V4L2_CID_STATELESS_H264_DECODE_PARAMS) || (!out.frame_based && !out.slice_based) ||
      (!out.annex_b && !out.no_start_code)) {
    log.errorf("%s (%s) rejected: missing stateless H.264 controls (SPS/PPS/DECODE_PARAMS/DECODE_MODE/START_CODE)",
               video_path.c_str(), out.driver_name.c_str());
    out.h264 = false;
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }
  out.has_scaling_matrix = has_control(*dev, V4L2_CID_STATELESS_H264_SCALING_MATRIX);
  out.has_slice_params = has_control(*dev, V4L2_CID_STATELESS_H264_SLICE_PARAMS);
  out.has_pred_weights = has_control(*dev, V4L2_CID_STATELESS_H264_PRED_WEIGHTS);

  std::vector<int64_t> profiles = menu_items(*dev, V4L2_CID_MPEG_VIDEO_H264_PROFILE);
  auto offers = [&](int64_t p) { return std::find(profiles.begin(), profiles.end(), p) != profiles.end(); };
  if (profiles.empty()) {
    // No profile menu (visl, some cedrus kernels): the device accepts every
    // SPS the stateless H.264 uAPI expresses for 8-bit 4:2:0, which is what
    // these three VA profiles decode.
    out.h264_profiles = {VAProfileH264ConstrainedBaseline, VAProfileH264Main, VAProfileH264High};
  } else {
    if (offers(V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE) || offers(V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE))
      out.h264_profiles.push_back(VAProfileH264ConstrainedBaseline);
    if (offers(V4L2_MPEG_VIDEO_H264_PROFILE_MAIN)) out.h264_profiles.push_back(VAProfileH264Main);
    if (offers(V4L2_MPEG_VIDEO_H264_PROFILE_HIGH)) out.h264_profiles.push_back(VAProfileH264High);
  }
  log.infof("%s (%s): H.264 %s%s%s, %ux%u..%ux%u, %zu profiles", video_path.c_str(), out.driver_name.c_str(),
            out.frame_based ? "frame-based " : "", out.slice_based ? "slice-based " : "",
            out.annex_b ? "annex-b" : "no-start-code", out.min_width, out.min_height, out.max_width,
            out.max_height, out.h264_profiles.size());
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va
