#include "discovery/discovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <libudev.h>
#include <linux/videodev2.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>

#include "v4l2/device.h"
#include "v4l2/unique_fd.h"

namespace v4l2va {
namespace {

// ---- libudev handles, owned ----

struct UdevUnref {
  void operator()(udev* u) const { udev_unref(u); }
  void operator()(udev_enumerate* e) const { udev_enumerate_unref(e); }
  void operator()(udev_device* d) const { udev_device_unref(d); }
};
using UdevPtr = std::unique_ptr<udev, UdevUnref>;
using UdevEnumeratePtr = std::unique_ptr<udev_enumerate, UdevUnref>;
using UdevDevicePtr = std::unique_ptr<udev_device, UdevUnref>;

// Collects what probe_decoder logs, so that discovery can turn a rejected
// node's error lines into its rejection reason and decide later whether the
// user sees them as errors (nothing usable) or as information.
class CapturingLog final : public Log {
 public:
  void error(const std::string& line) override { errors.push_back(line); }
  void info(const std::string& line) override { infos.push_back(line); }
  std::vector<std::string> errors;
  std::vector<std::string> infos;
};

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

std::string errno_text(int err) { return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")"; }

// Why opening a node failed, with what usually fixes it.
std::string open_failure(const std::string& path, int err) {
  std::string text = "cannot open " + path + ": " + errno_text(err);
  if (err == EACCES || err == EPERM)
    text += "; the user needs read/write access to it (usually membership of the 'video' group)";
  return text;
}

bool is_access_error(int err) { return err == EACCES || err == EPERM; }

UniqueFd open_node(const std::string& path, int& err) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  err = fd.valid() ? 0 : errno;
  return fd;
}

std::string fixed_string(const char* chars, size_t size) { return std::string(chars, strnlen(chars, size)); }

// Trailing decimal number of a node name ("/dev/media12" -> 12), for the stable order.
unsigned node_number(const std::string& path) {
  size_t end = path.size(), begin = end;
  while (begin > 0 && path[begin - 1] >= '0' && path[begin - 1] <= '9') --begin;
  return begin == end ? ~0u : static_cast<unsigned>(std::strtoul(path.c_str() + begin, nullptr, 10));
}

// ---- Media controller ----

// MEDIA_IOC_DEVICE_INFO, then MEDIA_IOC_G_TOPOLOGY: once for the counts, once
// for the arrays; retried when the topology_version moved in between
// (mediactl/media-ioc-g-topology.rst). Returns 0 or the errno.
int read_media_device(int fd, MediaDescription& out) {
  media_device_info info{};
  if (int err = xioctl(fd, MEDIA_IOC_DEVICE_INFO, &info)) return err;
  out.driver = fixed_string(info.driver, sizeof info.driver);
  out.model = fixed_string(info.model, sizeof info.model);
  out.bus_info = fixed_string(info.bus_info, sizeof info.bus_info);

  for (int attempt = 0; attempt < 4; ++attempt) {
    media_v2_topology counts{};
    if (int err = xioctl(fd, MEDIA_IOC_G_TOPOLOGY, &counts)) return err;
    MediaTopology& t = out.topology;
    t.entities.assign(counts.num_entities, {});
    t.interfaces.assign(counts.num_interfaces, {});
    t.pads.assign(counts.num_pads, {});
    t.links.assign(counts.num_links, {});
    media_v2_topology full = counts;
    full.ptr_entities = reinterpret_cast<uintptr_t>(t.entities.data());
    full.ptr_interfaces = reinterpret_cast<uintptr_t>(t.interfaces.data());
    full.ptr_pads = reinterpret_cast<uintptr_t>(t.pads.data());
    full.ptr_links = reinterpret_cast<uintptr_t>(t.links.data());
    // ENOSPC: the graph grew since the first call (mediactl/media-ioc-g-topology.rst, Return Value).
    int err = xioctl(fd, MEDIA_IOC_G_TOPOLOGY, &full);
    if (err == ENOSPC) continue;
    if (err) return err;
    if (full.topology_version != counts.topology_version) continue;
    t.entities.resize(std::min<size_t>(t.entities.size(), full.num_entities));
    t.interfaces.resize(std::min<size_t>(t.interfaces.size(), full.num_interfaces));
    t.pads.resize(std::min<size_t>(t.pads.size(), full.num_pads));
    t.links.resize(std::min<size_t>(t.links.size(), full.num_links));
    return 0;
  }
  return EAGAIN;
}

// ---- Looking at /dev without udev ----

// The /dev entries named <prefix><digits>, when /dev can be listed; nullopt
// when it cannot (Firefox's RDD broker lets /dev be read only in builds with
// V4L2 decoding, SandboxBrokerPolicyFactory.cpp AddV4l2Dependencies).
std::optional<std::set<std::string>> listed_dev_nodes(const std::string& prefix) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/dev"), &::closedir);
  if (!dir) return std::nullopt;
  std::set<std::string> names;
  while (const dirent* entry = ::readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
        name.find_first_not_of("0123456789", prefix.size()) == std::string::npos)
      names.insert("/dev/" + name);
  }
  return names;
}

// /dev/<prefix>0 .. <count-1>: the nodes stat() finds, and the ones whose
// stat() was refused. stat() of a node needs no permission on the node, only
// search permission on /dev (path_resolution(7)), so a refusal is a policy
// hiding /dev: a sandbox broker answers EACCES for every path it does not
// allow, present or not. Refused nodes are not opened (the answer would be
// the same), and when /dev can be listed only listed ones count as refused.
struct DevNodeScan {
  std::vector<std::string> present;
  std::vector<std::string> refused;
  int refused_errno = 0;
};

DevNodeScan scan_dev_nodes(const std::string& prefix, unsigned count) {
  DevNodeScan scan;
  const std::optional<std::set<std::string>> listed = listed_dev_nodes(prefix);
  for (unsigned i = 0; i < count; ++i) {
    std::string path = "/dev/" + prefix + std::to_string(i);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      scan.present.push_back(path);
      continue;
    }
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) continue;  // the normal end of the list
    if (listed && !listed->count(path)) continue;
    scan.refused.push_back(path);
    scan.refused_errno = err;
  }
  return scan;
}

// "/dev/media1, /dev/media2, /dev/media3" -> "/dev/media1..3", lists of
// scattered nodes cut after a few names.
std::string describe_nodes(const std::vector<std::string>& paths) {
  if (paths.empty()) return "";
  bool consecutive = true;
  for (size_t i = 1; i < paths.size(); ++i)
    if (node_number(paths[i]) != node_number(paths[i - 1]) + 1) consecutive = false;
  if (paths.size() > 2 && consecutive) {
    size_t digits = paths.front().find_last_not_of("0123456789") + 1;
    return paths.front() + ".." + paths.back().substr(digits);
  }
  std::vector<std::string> shown(paths.begin(), paths.begin() + std::min<size_t>(paths.size(), 4));
  std::string text = join(shown, ", ");
  if (paths.size() > shown.size()) text += " and " + std::to_string(paths.size() - shown.size()) + " more";
  return text;
}

// ---- devnum -> /dev path ----

bool node_has_devnum(const std::string& path, dev_t devnum) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == devnum;
}

class NodeResolver {
 public:
  NodeResolver(udev* u, unsigned video_scan_count) : udev_(u), video_scan_count_(video_scan_count) {}

  // The /dev path of a character device number: udev first, then the
  // kernel's uevent file in sysfs, then stat() of /dev/video0..N (what is
  // left inside a sandbox that hides /sys and udev).
  std::string path_of(dev_t devnum) const {
    if (udev_) {
      UdevDevicePtr device(udev_device_new_from_devnum(udev_, 'c', devnum));
      if (device) {
        if (const char* node = udev_device_get_devnode(device.get())) return node;
      }
    }
    std::ifstream uevent("/sys/dev/char/" + std::to_string(major(devnum)) + ":" + std::to_string(minor(devnum)) +
                         "/uevent");
    for (std::string line; std::getline(uevent, line);) {
      if (line.rfind("DEVNAME=", 0) == 0) {
        std::string path = "/dev/" + line.substr(8);
        if (node_has_devnum(path, devnum)) return path;
      }
    }
    // Only the listed nodes when /dev can be read; every number otherwise.
    if (const auto listed = listed_dev_nodes("video")) {
      for (const std::string& path : *listed)
        if (node_has_devnum(path, devnum)) return path;
    }
    for (unsigned i = 0; i < video_scan_count_; ++i) {
      std::string path = "/dev/video" + std::to_string(i);
      if (node_has_devnum(path, devnum)) return path;
    }
    return {};
  }

 private:
  udev* udev_;
  unsigned video_scan_count_;
};

// ---- Listing media devices ----

// Media device nodes libudev knows, sorted by number; empty when udev sees none.
std::vector<std::string> media_nodes_from_udev(udev* u) {
  std::vector<std::string> nodes;
  UdevEnumeratePtr enumerate(udev_enumerate_new(u));
  if (!enumerate || udev_enumerate_add_match_subsystem(enumerate.get(), "media") < 0 ||
      udev_enumerate_scan_devices(enumerate.get()) < 0)
    return nodes;
  udev_list_entry* entry;
  udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(enumerate.get())) {
    UdevDevicePtr device(udev_device_new_from_syspath(u, udev_list_entry_get_name(entry)));
    if (!device) continue;
    if (const char* node = udev_device_get_devnode(device.get())) nodes.emplace_back(node);
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const std::string& a, const std::string& b) { return node_number(a) < node_number(b); });
  return nodes;
}

// ---- Surveying ----

class Surveyor {
 public:
  Surveyor(const DiscoveryOptions& options, Log& log) : options_(options), log_(log) {
    if (options_.use_udev) udev_.reset(udev_new());
  }

  DiscoveryReport run() {
    if (!options_.video_path_override.empty() || !options_.media_path_override.empty())
      survey_overrides();
    else
      survey_system();
    report_summary();
    return std::move(report_);
  }

 private:
  NodeResolver resolver() const { return NodeResolver(udev_.get(), options_.video_scan_count); }

  // Media nodes to look at, and how they were found. Logs the method.
  std::vector<std::string> list_media_nodes() {
    if (udev_) {
      std::vector<std::string> nodes = media_nodes_from_udev(udev_.get());
      if (!nodes.empty()) {
        report_.method = DiscoveryMethod::Udev;
        log_.infof("udev lists %zu media device(s): %s", nodes.size(), join(nodes, ", ").c_str());
        return nodes;
      }
      log_.infof("udev lists no media device; opening /dev/media0..%u directly", options_.media_scan_count - 1);
    } else {
      log_.infof("udev not used; opening /dev/media0..%u directly", options_.media_scan_count - 1);
    }
    report_.method = DiscoveryMethod::DevScan;
    DevNodeScan scan = scan_dev_nodes("media", options_.media_scan_count);
    log_.infof("found %zu media node(s) under /dev%s%s", scan.present.size(), scan.present.empty() ? "" : ": ",
               join(scan.present, ", ").c_str());
    if (!scan.refused.empty()) {
      DecoderCandidate refused;
      refused.media_path = describe_nodes(scan.refused);
      refused.access_denied = true;
      reject(refused, "stat() refused: " + errno_text(scan.refused_errno) +
                          "; a sandbox hides /dev (Firefox's RDD process: see docs/firefox.md, \"Sandbox\")");
    }
    return scan.present;
  }

  void survey_system() {
    for (const std::string& media_path : list_media_nodes()) survey_media_device(media_path, std::nullopt);
  }

  // Reads one media device and adds a candidate per decoder entity (or one
  // rejected candidate saying why the device offers none). With
  // `wanted_video`, only the entity whose video node has that number is
  // examined and unrelated devices add nothing. Returns whether a decoder
  // entity was examined.
  bool survey_media_device(const std::string& media_path, std::optional<dev_t> wanted_video) {
    DecoderCandidate base;
    base.media_path = media_path;
    int err = 0;
    UniqueFd fd = open_node(media_path, err);
    if (!fd.valid()) {
      base.access_denied = is_access_error(err);
      if (!wanted_video) reject(base, open_failure(media_path, err));
      return false;
    }
    MediaDescription info;
    if ((err = read_media_device(fd.get(), info))) {
      if (!wanted_video) reject(base, "media controller ioctls failed on " + media_path + ": " + errno_text(err));
      return false;
    }
    base.media_driver = info.driver;
    base.media_model = info.model;
    std::vector<DecoderEntity> decoders = find_decoder_entities(info.topology);
    if (decoders.empty()) {
      if (!wanted_video) reject(base, "no MEDIA_ENT_F_PROC_VIDEO_DECODER entity (not a stateless decoder)");
      return false;
    }
    bool examined = false;
    for (const DecoderEntity& entity : decoders) {
      if (wanted_video && entity.video_devnum != wanted_video) continue;
      examined = true;
      DecoderCandidate candidate = base;
      candidate.entity_name = entity.entity_name;
      if (!entity.video_devnum) {
        reject(candidate, "decoder entity '" + entity.entity_name + "' has no linked video device interface");
        continue;
      }
      candidate.video_path = wanted_video ? options_.video_path_override : resolver().path_of(*entity.video_devnum);
      if (candidate.video_path.empty()) {
        reject(candidate, "no /dev node for video device " + std::to_string(major(*entity.video_devnum)) + ":" +
                              std::to_string(minor(*entity.video_devnum)) + " of entity '" + entity.entity_name +
                              "'");
        continue;
      }
      log_.infof("found decoder '%s' on %s (%s): %s", entity.entity_name.c_str(), media_path.c_str(),
                 info.driver.c_str(), candidate.video_path.c_str());
      examine(candidate);
    }
    return examined;
  }

  // Only the pair the user named is probed: both paths as given, or the one
  // given plus its partner found through the media topology.
  void survey_overrides() {
    report_.method = DiscoveryMethod::Override;
    const std::string& video = options_.video_path_override;
    const std::string& media = options_.media_path_override;
    log_.infof("LIBVA_V4L2_REQUEST_VIDEO_PATH=%s LIBVA_V4L2_REQUEST_MEDIA_PATH=%s: only this pair is probed",
               video.empty() ? "(unset)" : video.c_str(), media.empty() ? "(unset)" : media.c_str());

    std::optional<dev_t> video_devnum;
    if (!video.empty()) {
      struct stat st {};
      int stat_result = ::stat(video.c_str(), &st);
      if (stat_result != 0 || !S_ISCHR(st.st_mode)) {
        DecoderCandidate candidate;
        candidate.video_path = video;
        candidate.media_path = media;
        reject(candidate, "LIBVA_V4L2_REQUEST_VIDEO_PATH " + video +
                              (stat_result != 0 ? ": " + errno_text(errno) : " is not a character device"));
        return;
      }
      video_devnum = st.st_rdev;
    }

    if (!media.empty() && !video.empty()) {
      // Both given: the user's pair is used as is; a topology that does not
      // link them is worth a warning, since requests would then be
      // allocated on the wrong device.
      DecoderCandidate candidate;
      candidate.media_path = media;
      candidate.video_path = video;
      int err = 0;
      UniqueFd fd = open_node(media, err);
      if (!fd.valid()) {
        candidate.access_denied = is_access_error(err);
        reject(candidate, open_failure(media, err));
        return;
      }
      MediaDescription info;
      if ((err = read_media_device(fd.get(), info)) == 0) {
        candidate.media_driver = info.driver;
        candidate.media_model = info.model;
        for (const DecoderEntity& entity : find_decoder_entities(info.topology))
          if (entity.video_devnum == video_devnum) candidate.entity_name = entity.entity_name;
        if (candidate.entity_name.empty())
          log_.errorf("warning: %s has no decoder entity linked to %s; using the pair as configured", media.c_str(),
                      video.c_str());
      } else {
        log_.errorf("warning: media controller ioctls failed on %s: %s", media.c_str(), errno_text(err).c_str());
      }
      examine(candidate);
      return;
    }

    if (!media.empty()) {
      survey_media_device(media, std::nullopt);
      return;
    }

    // Only the video node: its media device is the one whose topology links
    // a decoder entity to that node's device number.
    std::vector<std::string> media_nodes = list_media_nodes();
    report_.method = DiscoveryMethod::Override;
    for (const std::string& media_path : media_nodes)
      if (survey_media_device(media_path, video_devnum)) return;
    DecoderCandidate candidate;
    candidate.video_path = video;
    reject(candidate, "no media device has a decoder entity linked to " + video +
                          "; set LIBVA_V4L2_REQUEST_MEDIA_PATH too");
  }

  // Capabilities and request support of a node the topology led to.
  void examine(DecoderCandidate& candidate) {
    CapturingLog probe_log;
    if (probe_decoder(candidate.video_path, candidate.media_path, probe_log, candidate.capabilities) !=
        VA_STATUS_SUCCESS) {
      std::string reason = join(probe_log.errors, "; ");
      reject(candidate, reason.empty() ? candidate.video_path + " could not be probed" : reason);
      return;
    }
    for (const std::string& line : probe_log.infos) log_.info(line);
    std::string why_not;
    if (!output_supports_requests(candidate.video_path, why_not)) {
      reject(candidate, why_not);
      return;
    }
    candidate.usable = true;
    report_.candidates.push_back(std::move(candidate));
  }

  void reject(DecoderCandidate candidate, std::string reason) {
    candidate.usable = false;
    candidate.capabilities = DecoderCapabilities{};
    candidate.rejection = std::move(reason);
    report_.candidates.push_back(std::move(candidate));
  }

  // Which devices are used and why each other one is not. Rejections are
  // errors only when nothing is usable: a camera's media device next to a
  // working decoder is no problem.
  void report_summary() {
    std::vector<std::string> used;
    for (const auto& c : report_.candidates)
      if (c.usable)
        used.push_back(c.video_path + " (" + c.capabilities.driver_name + ", " + c.media_path + ", up to " +
                       std::to_string(c.capabilities.max_width) + "x" + std::to_string(c.capabilities.max_height) +
                       ")");
    // Refused access is reported once for all nodes refused: a sandbox
    // refuses every node the same way.
    std::vector<const DecoderCandidate*> refused;
    for (const auto& c : report_.candidates) {
      if (c.usable) continue;
      if (c.access_denied) {
        refused.push_back(&c);
        continue;
      }
      report_line(describe(c) + " not used: " + c.rejection, used.empty());
    }
    if (!refused.empty()) {
      std::vector<std::string> names;
      for (const DecoderCandidate* c : refused) names.push_back(describe(*c));
      std::string line = join(names, ", ") + " not used: " + refused.front()->rejection;
      if (refused.size() > 1) line += " (the same for the others)";
      report_line(line, used.empty());
    }
    if (used.empty())
      log_.errorf("no usable stateless decoder found (%s); run v4l2-request-probe --verbose for details",
                  to_string(report_.method));
    else
      log_.infof("using %zu decoder(s): %s", used.size(), join(used, ", ").c_str());
  }

  static std::string describe(const DecoderCandidate& c) {
    std::string what = c.video_path.empty()   ? c.media_path
                       : c.media_path.empty() ? c.video_path
                                              : c.video_path + " on " + c.media_path;
    if (!c.media_driver.empty()) what += " (" + c.media_driver + ")";
    return what;
  }

  // Rejections are errors only when nothing is usable.
  void report_line(const std::string& line, bool as_error) {
    if (as_error)
      log_.error(line);
    else
      log_.info(line);
  }

  const DiscoveryOptions& options_;
  Log& log_;
  UdevPtr udev_;
  DiscoveryReport report_;
};

}  // namespace

const char* profile_name(VAProfile profile) {
  switch (profile) {
    case VAProfileH264ConstrainedBaseline: return "H264ConstrainedBaseline";
    case VAProfileH264Main: return "H264Main";
    case VAProfileH264High: return "H264High";
    case VAProfileH264MultiviewHigh: return "H264MultiviewHigh";
    case VAProfileH264StereoHigh: return "H264StereoHigh";
    case VAProfileVP8Version0_3: return "VP8Version0_3";
    case VAProfileVP9Profile0: return "VP9Profile0";
    case VAProfileVP9Profile1: return "VP9Profile1";
    case VAProfileVP9Profile2: return "VP9Profile2";
    case VAProfileVP9Profile3: return "VP9Profile3";
    default: return "a profile this driver does not decode";
  }
}

std::vector<DecoderEntity> find_decoder_entities(const MediaTopology& t) {
  auto entity_of_pad = [&](uint32_t pad_id) -> const media_v2_entity* {
    for (const auto& pad : t.pads)
      if (pad.id == pad_id)
        for (const auto& entity : t.entities)
          if (entity.id == pad.entity_id) return &entity;
    return nullptr;
  };
  auto link_type = [](const media_v2_link& link) { return link.flags & MEDIA_LNK_FL_LINK_TYPE; };

  std::vector<DecoderEntity> found;
  for (const auto& decoder : t.entities) {
    if (decoder.function != MEDIA_ENT_F_PROC_VIDEO_DECODER) continue;
    DecoderEntity out;
    out.entity_name = fixed_string(decoder.name, sizeof decoder.name);
    out.entity_id = decoder.id;

    // The decoder's neighbours over pad-to-pad links that are DMA engines
    // (v4l2_m2m_register_media_controller: source -> proc -> sink).
    std::set<uint32_t> io_entities;
    for (const auto& link : t.links) {
      if (link_type(link) != MEDIA_LNK_FL_DATA_LINK) continue;
      const media_v2_entity* source = entity_of_pad(link.source_id);
      const media_v2_entity* sink = entity_of_pad(link.sink_id);
      if (!source || !sink) continue;
      const media_v2_entity* other = source->id == decoder.id ? sink : sink->id == decoder.id ? source : nullptr;
      if (other && other->function == MEDIA_ENT_F_IO_V4L) io_entities.insert(other->id);
    }
    // Interface links: source_id is the interface, sink_id the entity
    // (mediactl/media-ioc-g-topology.rst, struct media_v2_link).
    for (const auto& link : t.links) {
      if (link_type(link) != MEDIA_LNK_FL_INTERFACE_LINK) continue;
      if (!io_entities.count(link.sink_id) && link.sink_id != decoder.id) continue;
      for (const auto& intf : t.interfaces)
        if (intf.id == link.source_id && intf.intf_type == MEDIA_INTF_T_V4L_VIDEO && !out.video_devnum)
          out.video_devnum = makedev(intf.devnode.major, intf.devnode.minor);
    }
    found.push_back(std::move(out));
  }
  return found;
}

int describe_media_device(const std::string& media_path, MediaDescription& out) {
  int err = 0;
  UniqueFd fd = open_node(media_path, err);
  if (!fd.valid()) return err;
  return read_media_device(fd.get(), out);
}

const char* to_string(DiscoveryMethod method) {
  switch (method) {
    case DiscoveryMethod::Override: return "LIBVA_V4L2_REQUEST_VIDEO_PATH/MEDIA_PATH override";
    case DiscoveryMethod::Udev: return "udev";
    case DiscoveryMethod::DevScan: return "/dev/media* scan";
  }
  return "?";
}

std::vector<DecoderCapabilities> DiscoveryReport::usable() const {
  std::vector<DecoderCapabilities> out;
  for (const auto& c : candidates)
    if (c.usable) out.push_back(c.capabilities);
  return out;
}

DiscoveryOptions options_from_environment() {
  DiscoveryOptions options;
  if (const char* v = std::getenv("LIBVA_V4L2_REQUEST_VIDEO_PATH"); v && *v) options.video_path_override = v;
  if (const char* m = std::getenv("LIBVA_V4L2_REQUEST_MEDIA_PATH"); m && *m) options.media_path_override = m;
  return options;
}

DiscoveryReport survey_decoders(const DiscoveryOptions& options, Log& log) { return Surveyor(options, log).run(); }

std::vector<DecoderCapabilities> discover_decoders(Log& log) {
  return survey_decoders(options_from_environment(), log).usable();
}

bool output_supports_requests(const std::string& video_path, std::string& reason) {
  int err = 0;
  UniqueFd fd = open_node(video_path, err);
  if (!fd.valid()) {
    reason = open_failure(video_path, err);
    return false;
  }
  // CREATE_BUFS with count 0 only reports the queue's capabilities and
  // allocates nothing (v4l/vidioc-create-bufs.rst); REQBUFS count 0 is the
  // older way (v4l/vidioc-reqbufs.rst) and frees this open's buffers, of
  // which a fresh open has none.
  // The OUTPUT buffer type of the node's planes API (cedrus is single-planar).
  v4l2_capability cap{};
  xioctl(fd.get(), VIDIOC_QUERYCAP, &cap);
  const uint32_t caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
  const uint32_t output_type =
      (caps & V4L2_CAP_VIDEO_M2M_MPLANE) ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE : V4L2_BUF_TYPE_VIDEO_OUTPUT;
  v4l2_create_buffers create{};
  create.count = 0;
  create.memory = V4L2_MEMORY_MMAP;
  create.format.type = output_type;
  uint32_t capabilities = 0;
  if ((err = xioctl(fd.get(), VIDIOC_CREATE_BUFS, &create)) == 0) {
    capabilities = create.capabilities;
  } else {
    v4l2_requestbuffers request{};
    request.count = 0;
    request.memory = V4L2_MEMORY_MMAP;
    request.type = output_type;
    if ((err = xioctl(fd.get(), VIDIOC_REQBUFS, &request))) {
      reason = "cannot read the OUTPUT queue's buffer capabilities on " + video_path +
               " (VIDIOC_CREATE_BUFS/VIDIOC_REQBUFS): " + errno_text(err);
      return false;
    }
    capabilities = request.capabilities;
  }
  if (!(capabilities & V4L2_BUF_CAP_SUPPORTS_REQUESTS)) {
    reason = "OUTPUT queue of " + video_path + " does not support requests (no V4L2_BUF_CAP_SUPPORTS_REQUESTS)";
    return false;
  }
  return true;
}

const DecoderCapabilities* choose_decoder(const std::vector<DecoderCapabilities>& decoders, VAProfile profile,
                                          uint32_t width, uint32_t height, Log& log) {
  std::vector<std::string> passed_over;
  for (const auto& decoder : decoders) {
    std::string name = decoder.video_path + " (" + decoder.driver_name + ")";
    const CodedFormatCaps* format = decoder.format_for(profile);
    if (!format) {
      passed_over.push_back(name + ": no " + profile_name(profile));
      continue;
    }
    // The limits of the coded format that decodes the profile (hantro:
    // H.264 up to 1920x1088, VP8 up to 3840x2160 on the same node).
    bool any_size = width == 0 && height == 0;
    if (!any_size && (width < format->min_width || height < format->min_height || width > format->max_width ||
                      height > format->max_height)) {
      passed_over.push_back(name + ": " + std::to_string(width) + "x" + std::to_string(height) + " outside " +
                            std::to_string(format->min_width) + "x" + std::to_string(format->min_height) + ".." +
                            std::to_string(format->max_width) + "x" + std::to_string(format->max_height));
      continue;
    }
    log.infof("%s %ux%u: using %s%s%s", profile_name(profile), width, height, name.c_str(),
              passed_over.empty() ? "" : "; passed over ", join(passed_over, "; ").c_str());
    return &decoder;
  }
  log.errorf("no decoder offers %s at %ux%u%s%s", profile_name(profile), width, height,
             passed_over.empty() ? " (no decoder found)" : ": ", join(passed_over, "; ").c_str());
  return nullptr;
}

std::vector<VAProfile> supported_profiles(const std::vector<DecoderCapabilities>& decoders) {
  std::set<int> ordered;
  for (const auto& decoder : decoders)
    for (VAProfile p : decoder.profiles()) ordered.insert(p);
  std::vector<VAProfile> out;
  for (int p : ordered) out.push_back(static_cast<VAProfile>(p));
  return out;
}

PictureSize max_picture_size(const std::vector<DecoderCapabilities>& decoders, VAProfile profile) {
  PictureSize best;
  for (const auto& decoder : decoders) {
    const CodedFormatCaps* format = decoder.format_for(profile);
    if (!format) continue;
    // The size of one decoder, never a mix of two decoders' limits.
    if (uint64_t(format->max_width) * format->max_height > uint64_t(best.width) * best.height)
      best = {format->max_width, format->max_height};
  }
  return best;
}

}  // namespace v4l2va
