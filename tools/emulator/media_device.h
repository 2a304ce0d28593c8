// One emulated decoder: /dev/mediaN (media controller with the m2m topology
// real drivers register through v4l2_m2m_register_media_controller) and
// /dev/videoN. Holds the lock that serialises its queues and requests.
#pragma once

#include <linux/media.h>
#include <sys/sysmacros.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "controls.h"
#include "fd_table.h"
#include "profiles.h"

namespace emu {

class Emulator;

struct Topology {
  std::vector<media_v2_entity> entities;
  std::vector<media_v2_interface> interfaces;
  std::vector<media_v2_pad> pads;
  std::vector<media_v2_link> links;
};

class EmulatedDevice : public std::enable_shared_from_this<EmulatedDevice> {
 public:
  EmulatedDevice(unsigned index, const HardwareProfile& profile, Emulator& emulator);

  unsigned index() const { return index_; }
  const HardwareProfile& profile() const { return profile_; }
  const ControlTable& controls() const { return controls_; }
  const Topology& topology() const { return topology_; }
  Emulator& emulator() { return emulator_; }
  dev_t video_rdev() const { return makedev(81, index_); }
  dev_t media_rdev() const { return makedev(238, index_); }

  // MEDIA_IOC_* on the media node; returns >= 0 or -errno.
  int media_ioctl(unsigned long request, void* arg);

  // Guards every queue, buffer and request of this device. Decoding runs
  // outside it.
  std::mutex mutex;
  std::condition_variable changed;  // a buffer completed or a queue stopped

 private:
  int device_info(media_device_info& info) const;
  int get_topology(media_v2_topology& topology) const;
  int allocate_request(int& request_fd);

  unsigned index_;
  const HardwareProfile& profile_;
  ControlTable controls_;
  Emulator& emulator_;
  Topology topology_;
};

class MediaFile : public EmulatedFile {
 public:
  explicit MediaFile(std::shared_ptr<EmulatedDevice> device) : device_(std::move(device)) {}
  int ioctl(int fd, unsigned long request, void* arg) override;
  dev_t rdev() const override { return device_->media_rdev(); }
  NodeKind node_kind() const override { return NodeKind::Media; }
  int decoder_index() const override { return static_cast<int>(device_->index()); }

 private:
  std::shared_ptr<EmulatedDevice> device_;
};

// Kernel version reported by QUERYCAP and MEDIA_IOC_DEVICE_INFO (6.12.0).
inline constexpr uint32_t kEmulatedKernelVersion = (6u << 16) | (12u << 8);

}  // namespace emu
