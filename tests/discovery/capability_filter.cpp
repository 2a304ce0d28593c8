// Test-only LD_PRELOAD layered in front of the emulator: changes what one
// emulated video node reports, so that discovery can be tested on decoders
// that differ in codecs, profiles, sizes and request support (the emulator's
// hardware profiles all offer H.264 with the same profile menu). It edits
// answers on their way back from the emulator; the device model stays the
// emulator's.
//
// DISCOVERY_FILTER="video1=no-h264;video0=max-profile-main+max=1280x720"
//   no-h264           OUTPUT offers MPEG2_SLICE in place of H264_SLICE and
//                     nothing after it (a decoder for another codec only)
//   max-profile-main  the H.264 profile menu ends at Main (no High)
//   max=WxH           ENUM_FRAMESIZES maxima lowered to WxH
//   no-requests       OUTPUT buffer capabilities without SUPPORTS_REQUESTS

#include <dlfcn.h>
#include <linux/v4l2-controls.h>
#include <linux/videodev2.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace {

struct Variant {
  bool no_h264 = false;
  bool max_profile_main = false;
  bool no_requests = false;
  uint32_t max_width = 0, max_height = 0;
};

// Parsed once; keyed by the video node's minor number (emulated 81:N).
const std::map<unsigned, Variant>& variants() {
  static const std::map<unsigned, Variant> parsed = [] {
    std::map<unsigned, Variant> out;
    const char* spec = std::getenv("DISCOVERY_FILTER");
    std::string_view rest = spec ? spec : "";
    while (!rest.empty()) {
      size_t end = rest.find(';');
      std::string_view entry = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      size_t equals = entry.find('=');
      if (entry.substr(0, 5) != "video" || equals == std::string_view::npos) continue;
      // strtoul, not stoul: an exception must never leave ioctl().
      Variant& v = out[static_cast<unsigned>(std::strtoul(std::string(entry.substr(5, equals - 5)).c_str(), nullptr, 10))];
      std::string_view options = entry.substr(equals + 1);
      while (!options.empty()) {
        size_t plus = options.find('+');
        std::string option(options.substr(0, plus));
        options = plus == std::string_view::npos ? std::string_view() : options.substr(plus + 1);
        if (option == "no-h264") v.no_h264 = true;
        if (option == "max-profile-main") v.max_profile_main = true;
        if (option == "no-requests") v.no_requests = true;
        if (option.rfind("max=", 0) == 0) {
          char* end_of_width = nullptr;
          v.max_width = static_cast<uint32_t>(std::strtoul(option.c_str() + 4, &end_of_width, 10));
          v.max_height = *end_of_width == 'x' ? static_cast<uint32_t>(std::strtoul(end_of_width + 1, nullptr, 10)) : 0;
          if (!v.max_height) v.max_width = 0;
        }
      }
    }
    return out;
  }();
  return parsed;
}

using IoctlFunction = int (*)(int, unsigned long, ...);

IoctlFunction next_ioctl() {
  static const auto next = reinterpret_cast<IoctlFunction>(dlsym(RTLD_NEXT, "ioctl"));
  return next;
}

// The variant for an emulated video node's fd (its fstat, answered by the
// emulator, gives 81:N), or null.
const Variant* variant_for(int fd) {
  struct stat st {};
  if (variants().empty() || fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 81) return nullptr;
  auto it = variants().find(minor(st.st_rdev));
  return it == variants().end() ? nullptr : &it->second;
}

int fail(int err) {
  errno = err;
  return -1;
}

}  // namespace

extern "C" int ioctl(int fd, unsigned long request, ...) {
  va_list args;
  va_start(args, request);
  void* arg = va_arg(args, void*);
  va_end(args);

  const Variant* v = variant_for(fd);
  if (!v) return next_ioctl()(fd, request, arg);

  if (request == VIDIOC_ENUM_FRAMESIZES && v->no_h264) {
    auto* sizes = static_cast<v4l2_frmsizeenum*>(arg);
    if (sizes->pixel_format == V4L2_PIX_FMT_H264_SLICE) return fail(EINVAL);
    if (sizes->pixel_format == V4L2_PIX_FMT_MPEG2_SLICE) {
      sizes->pixel_format = V4L2_PIX_FMT_H264_SLICE;
      int result = next_ioctl()(fd, request, arg);
      sizes->pixel_format = V4L2_PIX_FMT_MPEG2_SLICE;
      return result;
    }
  }
  int result = next_ioctl()(fd, request, arg);
  if (result != 0) return result;

  switch (request) {
    case VIDIOC_ENUM_FMT: {
      auto* desc = static_cast<v4l2_fmtdesc*>(arg);
      // hantro lists VP8_FRAME after H264_SLICE: the list ends instead.
      if (v->no_h264 && desc->pixelformat == V4L2_PIX_FMT_VP8_FRAME) return fail(EINVAL);
      if (v->no_h264 && desc->pixelformat == V4L2_PIX_FMT_H264_SLICE) {
        desc->pixelformat = V4L2_PIX_FMT_MPEG2_SLICE;
        std::snprintf(reinterpret_cast<char*>(desc->description), sizeof desc->description, "%s",
                      "MPEG-2 Parsed Slice Data");
      }
      break;
    }
    case VIDIOC_ENUM_FRAMESIZES: {
      auto* sizes = static_cast<v4l2_frmsizeenum*>(arg);
      if (v->max_width && sizes->type != V4L2_FRMSIZE_TYPE_DISCRETE) {
        sizes->stepwise.max_width = std::min(sizes->stepwise.max_width, v->max_width);
        sizes->stepwise.max_height = std::min(sizes->stepwise.max_height, v->max_height);
      }
      break;
    }
    case VIDIOC_QUERY_EXT_CTRL: {
      auto* query = static_cast<v4l2_query_ext_ctrl*>(arg);
      if (v->max_profile_main && query->id == V4L2_CID_MPEG_VIDEO_H264_PROFILE)
        query->maximum = std::min<int64_t>(query->maximum, V4L2_MPEG_VIDEO_H264_PROFILE_MAIN);
      break;
    }
    case VIDIOC_QUERYMENU: {
      auto* item = static_cast<v4l2_querymenu*>(arg);
      if (v->max_profile_main && item->id == V4L2_CID_MPEG_VIDEO_H264_PROFILE &&
          item->index > V4L2_MPEG_VIDEO_H264_PROFILE_MAIN)
        return fail(EINVAL);
      break;
    }
    case VIDIOC_CREATE_BUFS: {
      auto* create = static_cast<v4l2_create_buffers*>(arg);
      if (v->no_requests && create->format.type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE)
        create->capabilities &= ~V4L2_BUF_CAP_SUPPORTS_REQUESTS;
      break;
    }
    case VIDIOC_REQBUFS: {
      auto* reqbufs = static_cast<v4l2_requestbuffers*>(arg);
      if (v->no_requests && reqbufs->type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE)
        reqbufs->capabilities &= ~V4L2_BUF_CAP_SUPPORTS_REQUESTS;
      break;
    }
    default:
      break;
  }
  return result;
}
