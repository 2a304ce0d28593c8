#include "media_device.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "emulator.h"
#include "request.h"

namespace emu {
namespace {

// media_gobj_gen_id(): the graph object type lives in the top byte of an id.
constexpr uint32_t kGraphEntity = 0, kGraphPad = 1, kGraphLink = 2, kGraphInterface = 3;
uint32_t gobj_id(uint32_t type, uint32_t local) { return (type << 24) | (local & 0xffffff); }

template <size_t N>
void copy_string(char (&dst)[N], std::string_view src) {
  std::memset(dst, 0, N);
  std::memcpy(dst, src.data(), std::min(src.size(), N - 1));
}

// Copies `items` to the user array when one is given; like
// media_device_get_topology() it fills what fits, reports the full count and
// fails with ENOSPC when the array was too small.
template <typename T>
int export_array(const std::vector<T>& items, uint64_t user_ptr, uint32_t user_count,
                 uint32_t& total) {
  int ret = 0;
  if (user_ptr) {
    if (user_count < items.size()) ret = -ENOSPC;
    const size_t n = std::min<size_t>(user_count, items.size());
    std::memcpy(reinterpret_cast<void*>(static_cast<uintptr_t>(user_ptr)), items.data(),
                n * sizeof(T));
  }
  total = static_cast<uint32_t>(items.size());
  return ret;
}

}  // namespace

EmulatedDevice::EmulatedDevice(unsigned index, const HardwareProfile& profile, Emulator& emulator)
    : index_(index), profile_(profile), controls_(profile), emulator_(emulator) {
  // The graph v4l2_m2m_register_media_controller() (and hantro's copy of it)
  // builds: source I/O entity -> decoder entity -> sink I/O entity, and the
  // video devnode interface linked to both I/O entities.
  uint32_t next_id = 0;
  const std::string base(profile.video_name);
  auto add_entity = [&](const std::string& name, uint32_t function) {
    media_v2_entity entity{};
    entity.id = gobj_id(kGraphEntity, ++next_id);
    copy_string(entity.name, name);
    entity.function = function;
    topology_.entities.push_back(entity);
    return entity.id;
  };
  auto add_pad = [&](uint32_t entity_id, uint32_t flags, uint32_t index) {
    media_v2_pad pad{};
    pad.id = gobj_id(kGraphPad, ++next_id);
    pad.entity_id = entity_id;
    pad.flags = flags;
    pad.index = index;
    topology_.pads.push_back(pad);
    return pad.id;
  };
  auto add_link = [&](uint32_t source, uint32_t sink, uint32_t flags, bool has_backlink) {
    media_v2_link link{};
    link.id = gobj_id(kGraphLink, ++next_id);
    link.source_id = source;
    link.sink_id = sink;
    link.flags = flags;
    topology_.links.push_back(link);
    if (has_backlink) ++next_id;  // the backlink is an object too, never reported
  };
  const uint32_t source = add_entity(base + "-source", MEDIA_ENT_F_IO_V4L);
  const uint32_t source_pad = add_pad(source, MEDIA_PAD_FL_SOURCE, 0);
  const uint32_t proc = add_entity(base + "-proc", MEDIA_ENT_F_PROC_VIDEO_DECODER);
  const uint32_t proc_sink_pad = add_pad(proc, MEDIA_PAD_FL_SINK, 0);
  const uint32_t proc_source_pad = add_pad(proc, MEDIA_PAD_FL_SOURCE, 1);
  const uint32_t sink = add_entity(base + "-sink", MEDIA_ENT_F_IO_V4L);
  const uint32_t sink_pad = add_pad(sink, MEDIA_PAD_FL_SINK, 0);
  const uint32_t fixed = MEDIA_LNK_FL_ENABLED | MEDIA_LNK_FL_IMMUTABLE;
  add_link(source_pad, proc_sink_pad, fixed | MEDIA_LNK_FL_DATA_LINK, true);
  add_link(proc_source_pad, sink_pad, fixed | MEDIA_LNK_FL_DATA_LINK, true);
  media_v2_interface devnode{};
  devnode.id = gobj_id(kGraphInterface, ++next_id);
  devnode.intf_type = MEDIA_INTF_T_V4L_VIDEO;
  devnode.devnode.major = kVideoMajor;
  devnode.devnode.minor = index;
  topology_.interfaces.push_back(devnode);
  add_link(devnode.id, source, fixed | MEDIA_LNK_FL_INTERFACE_LINK, false);
  add_link(devnode.id, sink, fixed | MEDIA_LNK_FL_INTERFACE_LINK, false);
}

int EmulatedDevice::device_info(media_device_info& info) const {
  std::memset(&info, 0, sizeof(info));
  copy_string(info.driver, profile_.driver);
  copy_string(info.model, profile_.model);
  copy_string(info.bus_info, profile_.bus_info);
  info.media_version = kEmulatedKernelVersion;
  info.driver_version = kEmulatedKernelVersion;
  return 0;
}

int EmulatedDevice::get_topology(media_v2_topology& user) const {
  user.topology_version = 1;
  // media_v2_topology is packed: go through locals, not references.
  uint32_t entities = 0, interfaces = 0, pads = 0, links = 0;
  int ret = 0;
  for (int r : {export_array(topology_.entities, user.ptr_entities, user.num_entities, entities),
                export_array(topology_.interfaces, user.ptr_interfaces, user.num_interfaces,
                             interfaces),
                export_array(topology_.pads, user.ptr_pads, user.num_pads, pads),
                export_array(topology_.links, user.ptr_links, user.num_links, links)})
    if (r) ret = r;
  user.num_entities = entities;
  user.num_interfaces = interfaces;
  user.num_pads = pads;
  user.num_links = links;
  return ret;
}

int EmulatedDevice::allocate_request(int& request_fd) {
  int error = 0;
  std::shared_ptr<Request> request = Request::create(shared_from_this(), request_fd, error);
  if (!request) return error;
  emulator_.fds().insert(request_fd, std::make_shared<RequestFile>(std::move(request)));
  emulator_.counters().request_allocated();
  return 0;
}

int EmulatedDevice::media_ioctl(unsigned long request, void* arg) {
  if (!arg) return -EFAULT;
  switch (request) {
    case MEDIA_IOC_DEVICE_INFO:
      return device_info(*static_cast<media_device_info*>(arg));
    case MEDIA_IOC_G_TOPOLOGY:
      return get_topology(*static_cast<media_v2_topology*>(arg));
    case MEDIA_IOC_REQUEST_ALLOC:
      return allocate_request(*static_cast<int*>(arg));
    default:
      return -ENOTTY;
  }
}

int MediaFile::ioctl(int, unsigned long request, void* arg) {
  return device_->media_ioctl(request, arg);
}

}  // namespace emu
