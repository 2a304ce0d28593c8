// v4l2-request-probe: lists every stateless decoder on this system the way
// the VA-API driver finds it (src/discovery), with its formats, frame sizes
// and controls, and says whether the driver would use it and why not. The
// first thing to run when vainfo shows no profile (docs/troubleshooting.md).
//
// Exit status: 0 when at least one decoder is usable, 1 when none, 2 on
// bad arguments.

#include <fcntl.h>
#include <linux/media.h>
#include <linux/videodev2.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "discovery/discovery.h"
#include "log.h"
#include "v4l2/device.h"
#include "v4l2/picture_layout.h"
#include "v4l2/unique_fd.h"

namespace {

using v4l2va::UniqueFd;
using v4l2va::xioctl;

class PrintingLog final : public v4l2va::Log {
 public:
  explicit PrintingLog(bool verbose) : verbose_(verbose) {}
  void error(const std::string& line) override { lines.push_back("error: " + line); }
  void info(const std::string& line) override {
    if (verbose_) lines.push_back(line);
  }
  std::vector<std::string> lines;

 private:
  bool verbose_;
};

std::string fourcc(uint32_t code) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    char c = static_cast<char>((code >> (8 * i)) & 0xff);
    s += (c >= 32 && c < 127) ? c : '.';
  }
  if (code & (1u << 31)) s += "-BE";
  return s;
}

std::string text(const uint8_t* chars, size_t size) {
  return std::string(reinterpret_cast<const char*>(chars), strnlen(reinterpret_cast<const char*>(chars), size));
}

struct Format {
  uint32_t pixelformat;
  std::string description;
};

std::vector<Format> formats(int fd, uint32_t type) {
  std::vector<Format> out;
  for (uint32_t i = 0;; ++i) {
    v4l2_fmtdesc desc{};
    desc.index = i;
    desc.type = type;
    if (xioctl(fd, VIDIOC_ENUM_FMT, &desc)) break;
    out.push_back({desc.pixelformat, text(desc.description, sizeof desc.description)});
  }
  return out;
}

std::string frame_sizes(int fd, uint32_t pixelformat) {
  std::string out;
  for (uint32_t i = 0;; ++i) {
    v4l2_frmsizeenum sizes{};
    sizes.index = i;
    sizes.pixel_format = pixelformat;
    if (xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &sizes)) break;
    if (!out.empty()) out += ", ";
    if (sizes.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
      out += std::to_string(sizes.discrete.width) + "x" + std::to_string(sizes.discrete.height);
      continue;
    }
    const auto& s = sizes.stepwise;
    out += std::to_string(s.min_width) + "x" + std::to_string(s.min_height) + ".." + std::to_string(s.max_width) +
           "x" + std::to_string(s.max_height);
    if (sizes.type == V4L2_FRMSIZE_TYPE_STEPWISE)
      out += " step " + std::to_string(s.step_width) + "x" + std::to_string(s.step_height);
    break;  // stepwise/continuous: index 0 is the only entry
  }
  return out.empty() ? "sizes not enumerated" : out;
}

// CAPTURE formats the decoder offers once OUTPUT carries `coded`: the
// stateless decoder interface lists raw formats for the current OUTPUT
// format (v4l/dev-stateless-decoder.rst, "Querying capabilities"). This open
// is private to the probe, so setting its format disturbs nobody.
// The buffer types of a node's planes API: cedrus is single-planar
// (V4L2_CAP_VIDEO_M2M), hantro, rkvdec and mtk-vcodec multiplanar.
struct BufferTypes {
  bool multiplanar;
  uint32_t output, capture;
};
BufferTypes buffer_types(uint32_t caps) {
  if (caps & V4L2_CAP_VIDEO_M2M_MPLANE)
    return {true, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE};
  return {false, V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_BUF_TYPE_VIDEO_CAPTURE};
}

std::string capture_formats_for(int fd, const BufferTypes& types, uint32_t coded, std::string& chosen) {
  v4l2_format format{};
  format.type = types.output;
  if (types.multiplanar) {
    format.fmt.pix_mp.pixelformat = coded;
    format.fmt.pix_mp.width = 1280;
    format.fmt.pix_mp.height = 720;
    format.fmt.pix_mp.num_planes = 1;
  } else {
    format.fmt.pix.pixelformat = coded;
    format.fmt.pix.width = 1280;
    format.fmt.pix.height = 720;
  }
  if (int err = xioctl(fd, VIDIOC_S_FMT, &format)) return std::string("S_FMT failed: ") + std::strerror(err);
  std::string out;
  int best_rank = -1;
  for (const Format& f : formats(fd, types.capture)) {
    out += (out.empty() ? "" : " ") + fourcc(f.pixelformat);
    const int rank = v4l2va::capture_format_rank(f.pixelformat);
    if (rank >= 0 && (best_rank < 0 || rank < best_rank)) {
      best_rank = rank;
      chosen = fourcc(f.pixelformat);
    }
  }
  return out.empty() ? "none" : out;
}

const char* control_type(uint32_t type) {
  switch (type) {
    case V4L2_CTRL_TYPE_INTEGER: return "int";
    case V4L2_CTRL_TYPE_BOOLEAN: return "bool";
    case V4L2_CTRL_TYPE_MENU: return "menu";
    case V4L2_CTRL_TYPE_INTEGER_MENU: return "intmenu";
    case V4L2_CTRL_TYPE_BUTTON: return "button";
    case V4L2_CTRL_TYPE_INTEGER64: return "int64";
    case V4L2_CTRL_TYPE_CTRL_CLASS: return "class";
    case V4L2_CTRL_TYPE_STRING: return "string";
    case V4L2_CTRL_TYPE_BITMASK: return "bitmask";
    default: return "compound";
  }
}

void print_controls(int fd) {
  v4l2_query_ext_ctrl query{};
  query.id = V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
  bool any = false;
  while (xioctl(fd, VIDIOC_QUERY_EXT_CTRL, &query) == 0) {
    any = true;
    if (query.type == V4L2_CTRL_TYPE_CTRL_CLASS) {
      std::printf("      [%s]\n", query.name);
    } else if (query.type >= V4L2_CTRL_COMPOUND_TYPES) {
      std::printf("      %-40s 0x%08x %s, %u bytes%s\n", query.name, query.id, control_type(query.type),
                  query.elem_size, (query.flags & V4L2_CTRL_FLAG_DISABLED) ? " (disabled)" : "");
    } else {
      std::printf("      %-40s 0x%08x %s %lld..%lld default %lld%s\n", query.name, query.id,
                  control_type(query.type), static_cast<long long>(query.minimum),
                  static_cast<long long>(query.maximum), static_cast<long long>(query.default_value),
                  (query.flags & V4L2_CTRL_FLAG_DISABLED) ? " (disabled)" : "");
      if (query.type == V4L2_CTRL_TYPE_MENU || query.type == V4L2_CTRL_TYPE_INTEGER_MENU) {
        for (int64_t i = query.minimum; i <= query.maximum; ++i) {
          v4l2_querymenu item{};
          item.id = query.id;
          item.index = static_cast<uint32_t>(i);
          // QUERYMENU fails for items the driver skips (v4l/vidioc-queryctrl.rst).
          if (xioctl(fd, VIDIOC_QUERYMENU, &item)) continue;
          if (query.type == V4L2_CTRL_TYPE_MENU)
            std::printf("        %lld: %s\n", static_cast<long long>(i), item.name);
          else
            std::printf("        %lld: %lld\n", static_cast<long long>(i), static_cast<long long>(item.value));
        }
      }
    }
    query.id |= V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
  }
  if (!any) std::printf("      (none)\n");
}

void print_video_node(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    std::printf("    cannot open %s: %s\n", path.c_str(), std::strerror(errno));
    return;
  }
  v4l2_capability cap{};
  uint32_t caps = 0;
  if (xioctl(fd.get(), VIDIOC_QUERYCAP, &cap) == 0) {
    caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
    std::printf("    driver %s, card '%s', bus %s, kernel %u.%u.%u, device caps 0x%08x%s%s%s\n",
                text(cap.driver, sizeof cap.driver).c_str(), text(cap.card, sizeof cap.card).c_str(),
                text(cap.bus_info, sizeof cap.bus_info).c_str(), cap.version >> 16, (cap.version >> 8) & 0xff,
                cap.version & 0xff, caps, (caps & V4L2_CAP_VIDEO_M2M_MPLANE) ? " M2M_MPLANE" : "",
                (caps & V4L2_CAP_VIDEO_M2M) ? " M2M" : "", (caps & V4L2_CAP_STREAMING) ? " STREAMING" : "");
  }
  const BufferTypes types = buffer_types(caps);
  std::printf("    planes API: %s\n", types.multiplanar ? "multiplanar" : "single-planar");
  std::printf("    OUTPUT (coded) formats:\n");
  std::vector<Format> coded = formats(fd.get(), types.output);
  if (coded.empty()) std::printf("      (none)\n");
  for (const Format& f : coded)
    std::printf("      %s %-32s %s\n", fourcc(f.pixelformat).c_str(), f.description.c_str(),
                frame_sizes(fd.get(), f.pixelformat).c_str());
  for (const Format& f : coded) {
    std::string chosen;
    const std::string offered = capture_formats_for(fd.get(), types, f.pixelformat, chosen);
    std::printf("    CAPTURE formats with OUTPUT %s: %s\n", fourcc(f.pixelformat).c_str(), offered.c_str());
    if (f.pixelformat == V4L2_PIX_FMT_H264_SLICE || f.pixelformat == V4L2_PIX_FMT_VP8_FRAME ||
        f.pixelformat == V4L2_PIX_FMT_VP9_FRAME)
      std::printf("    CAPTURE format the driver would use: %s\n",
                  chosen.empty() ? "none (no NV12, NV12M, NV12_32L32 or MM21)" : chosen.c_str());
  }
  std::string why_not;
  std::printf("    OUTPUT queue takes requests: %s\n",
              v4l2va::output_supports_requests(path, why_not) ? "yes" : ("no (" + why_not + ")").c_str());
  std::printf("    controls:\n");
  print_controls(fd.get());
}

const char* function_name(uint32_t function) {
  switch (function) {
    case MEDIA_ENT_F_IO_V4L: return "IO_V4L";
    case MEDIA_ENT_F_PROC_VIDEO_DECODER: return "PROC_VIDEO_DECODER";
    case MEDIA_ENT_F_PROC_VIDEO_ENCODER: return "PROC_VIDEO_ENCODER";
    case MEDIA_ENT_F_CAM_SENSOR: return "CAM_SENSOR";
    default: return "other";
  }
}

void print_topology(const std::string& media_path) {
  v4l2va::MediaDescription media;
  if (int err = v4l2va::describe_media_device(media_path, media)) {
    std::printf("    topology of %s: %s\n", media_path.c_str(), std::strerror(err));
    return;
  }
  std::printf("    topology of %s (driver %s, model %s, bus %s):\n", media_path.c_str(), media.driver.c_str(),
              media.model.c_str(), media.bus_info.c_str());
  for (const auto& e : media.topology.entities)
    std::printf("      entity %u '%s' function 0x%x (%s)\n", e.id, e.name, e.function, function_name(e.function));
  for (const auto& i : media.topology.interfaces)
    std::printf("      interface %u type 0x%x devnode %u:%u\n", i.id, i.intf_type, i.devnode.major, i.devnode.minor);
  for (const auto& p : media.topology.pads)
    std::printf("      pad %u of entity %u flags 0x%x\n", p.id, p.entity_id, p.flags);
  for (const auto& l : media.topology.links)
    std::printf("      link %u: %u -> %u flags 0x%x (%s)\n", l.id, l.source_id, l.sink_id, l.flags,
                (l.flags & MEDIA_LNK_FL_LINK_TYPE) == MEDIA_LNK_FL_INTERFACE_LINK ? "interface" : "data");
}

void usage() {
  std::printf(
      "usage: v4l2-request-probe [--verbose]\n"
      "Lists the stateless decoders the v4l2_request VA-API driver finds, what they offer,\n"
      "and whether and why the driver uses each. --verbose adds the media topology and\n"
      "every discovery log line. Honours LIBVA_V4L2_REQUEST_VIDEO_PATH/_MEDIA_PATH as the\n"
      "driver does. Exit status 0: a usable decoder exists; 1: none.\n");
}

}  // namespace

int main(int argc, char** argv) {
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--verbose" || arg == "-v") {
      verbose = true;
    } else if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else {
      usage();
      return 2;
    }
  }

  PrintingLog log(verbose);
  v4l2va::DiscoveryOptions options = v4l2va::options_from_environment();
  v4l2va::DiscoveryReport report = v4l2va::survey_decoders(options, log);

  std::printf("v4l2-request-probe: decoders found through %s\n", v4l2va::to_string(report.method));
  if (!options.video_path_override.empty() || !options.media_path_override.empty())
    std::printf("overrides: LIBVA_V4L2_REQUEST_VIDEO_PATH=%s LIBVA_V4L2_REQUEST_MEDIA_PATH=%s\n",
                options.video_path_override.c_str(), options.media_path_override.c_str());
  if (report.candidates.empty()) std::printf("no media device found\n");

  unsigned number = 0;
  for (const auto& c : report.candidates) {
    ++number;
    std::printf("\n[%u] %s%s%s", number, c.video_path.empty() ? "" : c.video_path.c_str(),
                c.video_path.empty() ? "" : " on ", c.media_path.empty() ? "(no media device)" : c.media_path.c_str());
    if (!c.media_driver.empty()) std::printf(" (%s)", c.media_driver.c_str());
    if (!c.entity_name.empty()) std::printf(", decoder entity '%s'", c.entity_name.c_str());
    std::printf("\n");
    if (c.usable) {
      const auto& caps = c.capabilities;
      std::printf("    USED by the driver:\n");
      // Which codecs this device serves, each with its own limits.
      for (const auto& format : caps.codecs) {
        std::printf("      %s %ux%u..%ux%u", v4l2va::codec_name(format.codec), format.min_width, format.min_height,
                    format.max_width, format.max_height);
        if (format.codec == v4l2va::CodecKind::H264)
          std::printf(" %s%s%s%s", caps.frame_based ? "frame-based " : "", caps.slice_based ? "slice-based " : "",
                      caps.annex_b ? "annex-b" : "",
                      caps.no_start_code ? (caps.annex_b ? "/no-start-code" : "no-start-code") : "");
        std::printf(", VA profiles:");
        for (VAProfile p : format.profiles) std::printf(" %s", v4l2va::profile_name(p));
        std::printf("\n");
      }
    } else {
      std::printf("    NOT USED: %s\n", c.rejection.c_str());
    }
    // Refused nodes (a sandbox) cannot be read, and the path may name a range.
    if (verbose && !c.media_path.empty() && !c.access_denied) print_topology(c.media_path);
    if (!c.video_path.empty()) print_video_node(c.video_path);
  }

  std::vector<v4l2va::DecoderCapabilities> usable = report.usable();
  std::printf("\nsummary: %zu usable decoder(s)", usable.size());
  if (!usable.empty()) {
    std::printf("; vainfo should list:");
    for (VAProfile p : v4l2va::supported_profiles(usable)) {
      v4l2va::PictureSize size = v4l2va::max_picture_size(usable, p);
      std::printf(" %s (up to %ux%u)", v4l2va::profile_name(p), size.width, size.height);
    }
  } else {
    std::printf("; vainfo will list no profile (see docs/troubleshooting.md)");
  }
  std::printf("\n");
  if (!log.lines.empty()) {
    std::printf("\ndiscovery log:\n");
    for (const auto& line : log.lines) std::printf("  %s\n", line.c_str());
  }
  return usable.empty() ? 1 : 0;
}
