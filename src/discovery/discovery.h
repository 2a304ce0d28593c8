// Finding stateless decoders the way the kernel intends: media controller
// devices (listed by libudev, or by opening /dev/media0..63 where udev is not
// reachable, e.g. in Firefox's sandbox), their MEDIA_ENT_F_PROC_VIDEO_DECODER
// entities, and through links and interfaces the video node of each.
// Capabilities always come from the device (v4l2/capabilities.h).
#pragma once

#include <linux/media.h>
#include <sys/types.h>
#include <va/va.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "log.h"
#include "v4l2/capabilities.h"

namespace v4l2va {

// ---- Media controller topology (pure data, no device access) ----

struct MediaTopology {
  std::vector<media_v2_entity> entities;
  std::vector<media_v2_interface> interfaces;
  std::vector<media_v2_pad> pads;
  std::vector<media_v2_link> links;
};

// One decoder entity and the video device node that reaches it.
struct DecoderEntity {
  std::string entity_name;
  uint32_t entity_id = 0;
  // devnode of the MEDIA_INTF_T_V4L_VIDEO interface linked to the entity's
  // I/O entities; nullopt when the topology has no such interface.
  std::optional<dev_t> video_devnum;
};

// Every MEDIA_ENT_F_PROC_VIDEO_DECODER entity of a topology, with the video
// interface found through its data links to MEDIA_ENT_F_IO_V4L entities.
std::vector<DecoderEntity> find_decoder_entities(const MediaTopology& topology);

// What MEDIA_IOC_DEVICE_INFO and MEDIA_IOC_G_TOPOLOGY say about a media device.
struct MediaDescription {
  std::string driver, model, bus_info;
  MediaTopology topology;
};
// Opens and reads one media device; returns 0 or the errno.
int describe_media_device(const std::string& media_path, MediaDescription& out);

// ---- Discovery ----

// Where the candidates came from.
enum class DiscoveryMethod {
  Override,  // LIBVA_V4L2_REQUEST_VIDEO_PATH / LIBVA_V4L2_REQUEST_MEDIA_PATH
  Udev,      // libudev listed subsystem "media"
  DevScan,   // opened /dev/media0..63 (no udev, or udev listed nothing)
};
const char* to_string(DiscoveryMethod method);

// One decoder (or media device) looked at, usable or not.
struct DecoderCandidate {
  std::string media_path;
  std::string video_path;    // empty when no video node was found
  std::string media_driver;  // MEDIA_IOC_DEVICE_INFO driver / model, for humans
  std::string media_model;
  std::string entity_name;   // the decoder entity; empty for a media device without one
  bool usable = false;
  std::string rejection;     // why it is not usable (empty when usable)
  // EACCES/EPERM when access to the node was refused: such rejections are
  // reported together, in one line (a sandbox refuses dozens of nodes).
  bool access_denied = false;
  DecoderCapabilities capabilities;  // filled when usable
};

struct DiscoveryReport {
  DiscoveryMethod method = DiscoveryMethod::Udev;
  std::vector<DecoderCandidate> candidates;  // in media node order
  std::vector<DecoderCapabilities> usable() const;
};

// Where discovery looks; the defaults are the real system. Tests and the
// probe program may narrow it.
struct DiscoveryOptions {
  bool use_udev = true;            // false: go straight to the /dev scan
  unsigned media_scan_count = 64;  // /dev/media0 .. /dev/media<count-1>
  unsigned video_scan_count = 256; // devnum -> node without udev: /dev/video0..
  // Overrides; read from the environment by options_from_environment().
  std::string video_path_override;
  std::string media_path_override;
};

// Defaults plus LIBVA_V4L2_REQUEST_VIDEO_PATH / LIBVA_V4L2_REQUEST_MEDIA_PATH.
DiscoveryOptions options_from_environment();

// Looks at every candidate and says for each whether it is usable and why
// not. Logs which devices were found and why each one was rejected.
DiscoveryReport survey_decoders(const DiscoveryOptions& options, Log& log);

// Every usable stateless decoder, in a stable order (media node number), plus
// log lines for every rejected one. Honours LIBVA_V4L2_REQUEST_VIDEO_PATH /
// _MEDIA_PATH (then only that pair is probed), uses libudev when it works,
// else scans /dev/media0..63.
std::vector<DecoderCapabilities> discover_decoders(Log& log);

// The decoder to use for a profile and size: the first that offers the
// profile and fits the size (0x0: any size); nullptr if none. Logs the choice
// and why each other decoder was passed over.
const DecoderCapabilities* choose_decoder(const std::vector<DecoderCapabilities>& decoders, VAProfile profile,
                                          uint32_t width, uint32_t height, Log& log);

// "H264Main" etc., as vainfo spells them (without the VAProfile prefix).
const char* profile_name(VAProfile profile);

// What vainfo should show: the union of the decoders' profiles, in VA enum order.
std::vector<VAProfile> supported_profiles(const std::vector<DecoderCapabilities>& decoders);

// The largest picture any decoder offering `profile` accepts (0x0 when none):
// what vaGetConfigAttributes / vaQuerySurfaceAttributes report for a config.
struct PictureSize {
  uint32_t width = 0, height = 0;
};
PictureSize max_picture_size(const std::vector<DecoderCapabilities>& decoders, VAProfile profile);

// Does the OUTPUT queue of this node take requests? Asked with CREATE_BUFS
// count 0 (falls back to REQBUFS count 0). On false, `reason` says why.
bool output_supports_requests(const std::string& video_path, std::string& reason);

}  // namespace v4l2va
