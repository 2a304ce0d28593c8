#include "v4l2/capabilities.h"

#include <linux/v4l2-controls.h>
#include <linux/videodev2.h>

#include <algorithm>
#include <climits>
#include <cstdint>
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

const char* codec_name(CodecKind codec) {
  switch (codec) {
    case CodecKind::H264: return "H.264";
    case CodecKind::VP8: return "VP8";
    case CodecKind::VP9: return "VP9";
  }
  return "?";
}

uint32_t coded_pixelformat(CodecKind codec) {
  switch (codec) {
    case CodecKind::H264: return V4L2_PIX_FMT_H264_SLICE;
    case CodecKind::VP8: return V4L2_PIX_FMT_VP8_FRAME;
    case CodecKind::VP9: return V4L2_PIX_FMT_VP9_FRAME;
  }
  return 0;
}

bool codec_of_profile(VAProfile profile, CodecKind& codec) {
  switch (profile) {
    case VAProfileH264ConstrainedBaseline:
    case VAProfileH264Main:
    case VAProfileH264High:
      codec = CodecKind::H264;
      return true;
    case VAProfileVP8Version0_3:
      codec = CodecKind::VP8;
      return true;
    case VAProfileVP9Profile0:
      codec = CodecKind::VP9;
      return true;
    default:
      return false;
  }
}

const CodedFormatCaps* DecoderCapabilities::format_of(CodecKind codec) const {
  for (const CodedFormatCaps& format : codecs)
    if (format.codec == codec) return &format;
  return nullptr;
}

const CodedFormatCaps* DecoderCapabilities::format_for(VAProfile profile) const {
  for (const CodedFormatCaps& format : codecs)
    if (std::find(format.profiles.begin(), format.profiles.end(), profile) != format.profiles.end()) return &format;
  return nullptr;
}

std::vector<VAProfile> DecoderCapabilities::profiles() const {
  std::vector<VAProfile> out;
  for (const CodedFormatCaps& format : codecs) out.insert(out.end(), format.profiles.begin(), format.profiles.end());
  return out;
}

namespace {

std::string fourcc_text(uint32_t f) {
  const char text[5] = {char(f & 0xff), char((f >> 8) & 0xff), char((f >> 16) & 0xff), char(f >> 24), 0};
  return text;
}

// The CAPTURE formats follow the OUTPUT format (dev-stateless-decoder.rst,
// "Initialization"): set the coded format on this private instance, then
// look for a layout the driver can present as VA surfaces.
VAStatus probe_capture_formats(const std::string& video_path, const std::string& driver, Queue& output,
                               Queue& capture, CodedFormatCaps& format, Log& log) {
  if (VAStatus st = output.set_format(format.pixelformat, 176, 144, 0); st != VA_STATUS_SUCCESS) return st;
  format.capture_formats = capture.enum_formats();
  const bool readable = std::any_of(format.capture_formats.begin(), format.capture_formats.end(),
                                    [](uint32_t f) { return is_supported_capture_format(f); });
  if (readable) return VA_STATUS_SUCCESS;
  std::string offered;
  for (uint32_t f : format.capture_formats) offered += (offered.empty() ? "" : ", ") + fourcc_text(f);
  log.errorf("%s (%s): %s rejected: CAPTURE offers none of NV12, NV12M, NV12_32L32, MM21 (offers: %s)",
             video_path.c_str(), driver.c_str(), codec_name(format.codec), offered.empty() ? "nothing" : offered.c_str());
  return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
}

VAStatus probe_frame_sizes(const VideoDevice& dev, const std::string& video_path, Queue& output,
                           CodedFormatCaps& format, Log& log) {
  v4l2_frmsizeenum fs{};
  fs.index = 0;
  fs.pixel_format = format.pixelformat;
  if (xioctl(dev.fd(), VIDIOC_ENUM_FRAMESIZES, &fs) == 0) {
    if (fs.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
      format.max_width = format.min_width = fs.discrete.width;
      format.max_height = format.min_height = fs.discrete.height;
    } else {
      format.min_width = fs.stepwise.min_width;
      format.min_height = fs.stepwise.min_height;
      format.max_width = fs.stepwise.max_width;
      format.max_height = fs.stepwise.max_height;
    }
    return VA_STATUS_SUCCESS;
  }
  // No size enumeration: ask the device to clamp an oversized format
  // (TRY_FMT adjusts rather than fails, vidioc-g-fmt.rst).
  Result<Format> clamped = output.try_format(format.pixelformat, 16384, 16384);
  if (!clamped.ok()) return clamped.status();
  format.max_width = clamped->width;
  format.max_height = clamped->height;
  log.infof("%s: no VIDIOC_ENUM_FRAMESIZES for %s; VIDIOC_TRY_FMT clamps to %ux%u", video_path.c_str(),
            codec_name(format.codec), format.max_width, format.max_height);
  return VA_STATUS_SUCCESS;
}

// H.264: the decode and start-code modes, the optional controls and the
// profile menu.
VAStatus probe_h264(const VideoDevice& dev, const std::string& video_path, DecoderCapabilities& out,
                    CodedFormatCaps& format, Log& log) {
  for (int64_t m : menu_items(dev, V4L2_CID_STATELESS_H264_DECODE_MODE)) {
    if (m == V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED) out.frame_based = true;
    if (m == V4L2_STATELESS_H264_DECODE_MODE_SLICE_BASED) out.slice_based = true;
  }
  for (int64_t m : menu_items(dev, V4L2_CID_STATELESS_H264_START_CODE)) {
    if (m == V4L2_STATELESS_H264_START_CODE_ANNEX_B) out.annex_b = true;
    if (m == V4L2_STATELESS_H264_START_CODE_NONE) out.no_start_code = true;
  }
  if (!has_control(dev, V4L2_CID_STATELESS_H264_SPS) || !has_control(dev, V4L2_CID_STATELESS_H264_PPS) ||
      !has_control(dev, V4L2_CID_STATELESS_H264_DECODE_PARAMS) || (!out.frame_based && !out.slice_based) ||
      (!out.annex_b && !out.no_start_code)) {
    log.errorf("%s (%s): H.264 rejected: missing stateless H.264 controls (SPS/PPS/DECODE_PARAMS/DECODE_MODE/START_CODE)",
               video_path.c_str(), out.driver_name.c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }
  out.has_scaling_matrix = has_control(dev, V4L2_CID_STATELESS_H264_SCALING_MATRIX);
  out.has_slice_params = has_control(dev, V4L2_CID_STATELESS_H264_SLICE_PARAMS);
  out.has_pred_weights = has_control(dev, V4L2_CID_STATELESS_H264_PRED_WEIGHTS);

  std::vector<int64_t> profiles = menu_items(dev, V4L2_CID_MPEG_VIDEO_H264_PROFILE);
  auto offers = [&](int64_t p) { return std::find(profiles.begin(), profiles.end(), p) != profiles.end(); };
  if (profiles.empty()) {
    // No profile menu (visl, some cedrus kernels): the device accepts every
    // SPS the stateless H.264 uAPI expresses for 8-bit 4:2:0, which is what
    // these three VA profiles decode.
    format.profiles = {VAProfileH264ConstrainedBaseline, VAProfileH264Main, VAProfileH264High};
  } else {
    if (offers(V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE) || offers(V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE))
      format.profiles.push_back(VAProfileH264ConstrainedBaseline);
    if (offers(V4L2_MPEG_VIDEO_H264_PROFILE_MAIN)) format.profiles.push_back(VAProfileH264Main);
    if (offers(V4L2_MPEG_VIDEO_H264_PROFILE_HIGH)) format.profiles.push_back(VAProfileH264High);
  }
  return VA_STATUS_SUCCESS;
}

// VP8: one frame control (hantro_drv.c, cedrus.c); VP8 has no profile menu
// for decoders, and the VA profile covers versions 0..3.
VAStatus probe_vp8(const VideoDevice& dev, const std::string& video_path, const std::string& driver,
                   CodedFormatCaps& format, Log& log) {
  if (!has_control(dev, V4L2_CID_STATELESS_VP8_FRAME)) {
    log.errorf("%s (%s): VP8 rejected: no V4L2_CID_STATELESS_VP8_FRAME control", video_path.c_str(), driver.c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }
  format.profiles = {VAProfileVP8Version0_3};
  return VA_STATUS_SUCCESS;
}

// VP9: the frame and compressed-header controls; profile 0 when the
// profile menu offers it (rkvdec: 0..0) or when there is no menu (hantro G2,
// whose try_ctrl refuses any other profile).
VAStatus probe_vp9(const VideoDevice& dev, const std::string& video_path, const std::string& driver,
                   CodedFormatCaps& format, Log& log) {
  if (!has_control(dev, V4L2_CID_STATELESS_VP9_FRAME) || !has_control(dev, V4L2_CID_STATELESS_VP9_COMPRESSED_HDR)) {
    log.errorf("%s (%s): VP9 rejected: missing V4L2_CID_STATELESS_VP9_FRAME/COMPRESSED_HDR", video_path.c_str(),
               driver.c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }
  std::vector<int64_t> profiles = menu_items(dev, V4L2_CID_MPEG_VIDEO_VP9_PROFILE);
  if (profiles.empty() || std::find(profiles.begin(), profiles.end(), V4L2_MPEG_VIDEO_VP9_PROFILE_0) != profiles.end())
    format.profiles = {VAProfileVP9Profile0};
  if (format.profiles.empty()) {
    log.errorf("%s (%s): VP9 rejected: the profile menu does not offer profile 0", video_path.c_str(), driver.c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }
  return VA_STATUS_SUCCESS;
}

// One coded format: CAPTURE formats, sizes, controls. Failure rejects this
// format only.
VAStatus probe_coded_format(const VideoDevice& dev, const std::string& video_path, Queue& output, Queue& capture,
                            DecoderCapabilities& out, CodedFormatCaps& format, Log& log) {
  if (VAStatus st = probe_capture_formats(video_path, out.driver_name, output, capture, format, log);
      st != VA_STATUS_SUCCESS)
    return st;
  if (VAStatus st = probe_frame_sizes(dev, video_path, output, format, log); st != VA_STATUS_SUCCESS) return st;
  switch (format.codec) {
    case CodecKind::H264: return probe_h264(dev, video_path, out, format, log);
    case CodecKind::VP8: return probe_vp8(dev, video_path, out.driver_name, format, log);
    case CodecKind::VP9: return probe_vp9(dev, video_path, out.driver_name, format, log);
  }
  return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
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

  for (uint32_t pixelformat : output.enum_formats()) {
    for (CodecKind codec : {CodecKind::H264, CodecKind::VP8, CodecKind::VP9}) {
      if (pixelformat != coded_pixelformat(codec)) continue;
      CodedFormatCaps format;
      format.codec = codec;
      format.pixelformat = pixelformat;
      if (probe_coded_format(*dev, video_path, output, capture, out, format, log) == VA_STATUS_SUCCESS)
        out.codecs.push_back(std::move(format));
    }
  }
  if (out.codecs.empty()) {
    log.errorf("%s (%s) rejected: the OUTPUT queue offers no coded format the driver decodes (H264_SLICE, "
               "VP8_FRAME, VP9_FRAME)",
               video_path.c_str(), out.driver_name.c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }
  out.min_width = out.min_height = UINT32_MAX;
  std::string summary;
  for (const CodedFormatCaps& format : out.codecs) {
    out.min_width = std::min(out.min_width, format.min_width);
    out.min_height = std::min(out.min_height, format.min_height);
    out.max_width = std::max(out.max_width, format.max_width);
    out.max_height = std::max(out.max_height, format.max_height);
    summary += std::string(summary.empty() ? "" : "; ") + codec_name(format.codec) + " " +
               std::to_string(format.min_width) + "x" + std::to_string(format.min_height) + ".." +
               std::to_string(format.max_width) + "x" + std::to_string(format.max_height) + ", " +
               std::to_string(format.profiles.size()) + " profile(s)";
    if (format.codec == CodecKind::H264)
      summary += std::string(", ") + (out.frame_based ? "frame-based " : "") + (out.slice_based ? "slice-based " : "") +
                 (out.annex_b ? "annex-b" : "no-start-code");
  }
  log.infof("%s (%s): %s", video_path.c_str(), out.driver_name.c_str(), summary.c_str());
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va
