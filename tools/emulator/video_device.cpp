#include "video_device.h"

#include "fd_table.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>

#include "emulator.h"
#include "record.h"
#include "request.h"

namespace emu {
namespace {

constexpr uint32_t kMaxBuffers = 32;              // vb2's default max_num_buffers
constexpr off_t kCaptureCookieBase = 1ll << 30;   // v4l2-mem2mem.c DST_QUEUE_OFF_BASE
// __setup_offsets() in videobuf2-core.c: (buffer index << PLANE_INDEX_SHIFT)
// + (plane << PAGE_SHIFT), PLANE_INDEX_SHIFT = PAGE_SHIFT + 3.
constexpr int kPageShift = 12;
constexpr int kPlaneIndexShift = kPageShift + 3;
constexpr uint32_t kFrameFlags =
    V4L2_BUF_FLAG_KEYFRAME | V4L2_BUF_FLAG_PFRAME | V4L2_BUF_FLAG_BFRAME;

std::atomic<uint64_t> next_serial{1};

uint32_t mmap_cookie(bool capture, uint32_t index, uint32_t plane) {
  return static_cast<uint32_t>((capture ? kCaptureCookieBase : 0) +
                               (static_cast<off_t>(index) << kPlaneIndexShift) +
                               (static_cast<off_t>(plane) << kPageShift));
}

// A CAPTURE buffer as the backend sees it: its memory planes in the layout
// of the CAPTURE format. Empty planes when the buffer cannot hold the layout.
CaptureTarget capture_target(const std::vector<std::shared_ptr<SharedMemory>>& planes,
                             const PictureLayout& picture) {
  CaptureTarget target;
  target.width = picture.width;
  target.height = picture.height;
  target.bytesperline = picture.bytesperline;
  target.layout = picture.layout;
  if (planes.empty() || picture.chroma_plane >= planes.size() ||
      picture.chroma_offset > planes[picture.chroma_plane]->mapping.size())
    return target;
  const Mapping& luma = planes[0]->mapping;
  const Mapping& chroma = planes[picture.chroma_plane]->mapping;
  target.luma = {luma.data(), luma.size()};
  target.chroma = {chroma.data() + picture.chroma_offset, chroma.size() - picture.chroma_offset};
  return target;
}

template <typename T>
const T* payload_of(const ControlValues& values, uint32_t id) {
  auto it = values.find(id);
  if (it == values.end() || it->second.payload.size() != sizeof(T)) return nullptr;
  return reinterpret_cast<const T*>(it->second.payload.data());
}

}  // namespace

bool SharedMemory::create(const char* name, size_t size, SharedMemory& out) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_memfd_create, name, MFD_CLOEXEC)));
  if (!fd.valid() || ::syscall(SYS_ftruncate, fd.get(), size) != 0) return false;
  void* addr = reinterpret_cast<void*>(
      ::syscall(SYS_mmap, nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
  if (addr == MAP_FAILED) return false;
  out.fd = std::move(fd);
  out.mapping = Mapping(addr, size);
  return true;
}

dev_t VideoFile::rdev() const { return instance_->device().video_rdev(); }

bool M2mInstance::Queue::has_queued_buffers() const {
  return std::any_of(buffers.begin(), buffers.end(), [](const Buffer& b) {
    return b.state == BufferState::Queued || b.state == BufferState::Active ||
           b.state == BufferState::Done;
  });
}

std::shared_ptr<M2mInstance> M2mInstance::create(std::shared_ptr<EmulatedDevice> device,
                                                 int open_flags, int& client_fd, int& error) {
  // The client's fd is a memfd: a unique inode for FdTable's stale-fd check,
  // real dup/close/fork semantics, and nothing a sandbox might refuse.
  const long fd = ::syscall(SYS_memfd_create, "emu-video",
                            (open_flags & O_CLOEXEC) ? MFD_CLOEXEC : 0u);
  if (fd < 0) {
    error = -errno;
    return nullptr;
  }
  UniqueFd client(static_cast<int>(fd));
  // O_NONBLOCK lives in the open file description: DQBUF reads it back.
  if ((open_flags & O_NONBLOCK) && ::syscall(SYS_fcntl, client.get(), F_SETFL, O_NONBLOCK) != 0) {
    error = -errno;
    return nullptr;
  }
  std::shared_ptr<M2mInstance> instance(new M2mInstance(std::move(device)));
  instance->worker_ = std::thread([raw = instance.get()] { raw->worker_main(); });
  client_fd = client.release();
  return instance;
}

M2mInstance::M2mInstance(std::shared_ptr<EmulatedDevice> device)
    : device_(std::move(device)),
      emulator_(device_->emulator()),
      serial_(next_serial++),
      planes_(device_->profile().planes_api == PlanesApiKind::SinglePlanar
                  ? PlanesApi::single_planar()
                  : PlanesApi::multiplanar()),
      driver_(CodecDriver::create(device_->profile(), emulator_.config().cedrus_tiled)),
      current_controls_(device_->controls().defaults()),
      decode_time_(emulator_.config().decode_us),
      hardware_dpb_(emulator_.config().dpb_check == DpbCheckMode::Hardware) {
  output_.type = planes_.output_type();
  output_.direction = Direction::Output;
  capture_.type = planes_.capture_type();
  capture_.direction = Direction::Capture;
}

M2mInstance::~M2mInstance() {
  {
    std::unique_lock lock(device_->mutex);
    stopping_ = true;
    device_->changed.notify_all();
  }
  if (worker_.joinable()) worker_.join();
  std::unique_lock lock(device_->mutex);
  cancel_queue(output_);
  cancel_queue(capture_);
  device_->changed.notify_all();
}

// A type of the other planes API, or no video type at all, is EINVAL in
// every ioctl (check_fmt() in v4l2-ioctl.c, or vb2's type checks).
M2mInstance::Queue* M2mInstance::queue_for(uint32_t type) {
  if (type == output_.type) return &output_;
  if (type == capture_.type) return &capture_;
  return nullptr;
}

QueueBusy M2mInstance::queue_busy() const {
  return {output_.streaming, !output_.buffers.empty(), !capture_.buffers.empty()};
}

uint64_t M2mInstance::to_ns(const timeval& tv) {
  // v4l2_timeval_to_ns(): what reference_ts is compared with.
  return static_cast<uint64_t>(tv.tv_sec) * 1000000000ull + static_cast<uint64_t>(tv.tv_usec) * 1000ull;
}

ValidationContext M2mInstance::validation_context() const {
  return {&device_->profile(), driver_->coded_width(), driver_->coded_height()};
}

int M2mInstance::ioctl(int fd, unsigned long request, void* arg) {
  if (!arg) return -EFAULT;
  std::unique_lock lock(device_->mutex);
  int ret = -ENOTTY;
  switch (request) {
    case VIDIOC_QUERYCAP: ret = querycap(*static_cast<v4l2_capability*>(arg)); break;
    case VIDIOC_ENUM_FMT: ret = enum_fmt(*static_cast<v4l2_fmtdesc*>(arg)); break;
    case VIDIOC_G_FMT: ret = get_fmt(*static_cast<v4l2_format*>(arg)); break;
    case VIDIOC_TRY_FMT: ret = try_fmt(*static_cast<v4l2_format*>(arg)); break;
    case VIDIOC_S_FMT: ret = set_fmt(*static_cast<v4l2_format*>(arg)); break;
    case VIDIOC_ENUM_FRAMESIZES: ret = enum_framesizes(*static_cast<v4l2_frmsizeenum*>(arg)); break;
    case VIDIOC_REQBUFS: ret = reqbufs(*static_cast<v4l2_requestbuffers*>(arg)); break;
    case VIDIOC_CREATE_BUFS: ret = create_bufs(*static_cast<v4l2_create_buffers*>(arg)); break;
    case VIDIOC_QUERYBUF: ret = querybuf(*static_cast<v4l2_buffer*>(arg)); break;
    case VIDIOC_EXPBUF: ret = expbuf(*static_cast<v4l2_exportbuffer*>(arg)); break;
    case VIDIOC_QBUF: ret = qbuf(*static_cast<v4l2_buffer*>(arg)); break;
    case VIDIOC_DQBUF: ret = dqbuf(fd, *static_cast<v4l2_buffer*>(arg), lock); break;
    case VIDIOC_STREAMON: ret = streamon(*static_cast<uint32_t*>(arg)); break;
    case VIDIOC_STREAMOFF: ret = streamoff(*static_cast<uint32_t*>(arg)); break;
    case VIDIOC_G_EXT_CTRLS:
    case VIDIOC_S_EXT_CTRLS:
    case VIDIOC_TRY_EXT_CTRLS:
      ret = ext_ctrls(request, *static_cast<v4l2_ext_controls*>(arg));
      break;
    case VIDIOC_G_CTRL:
    case VIDIOC_S_CTRL:
      ret = legacy_ctrl(request, *static_cast<v4l2_control*>(arg));
      break;
    case VIDIOC_QUERY_EXT_CTRL:
      ret = device_->controls().query_ext_ctrl(*static_cast<v4l2_query_ext_ctrl*>(arg));
      break;
    case VIDIOC_QUERYCTRL:
      ret = device_->controls().query_ctrl(*static_cast<v4l2_queryctrl*>(arg));
      break;
    case VIDIOC_QUERYMENU:
      ret = device_->controls().query_menu(*static_cast<v4l2_querymenu*>(arg));
      break;
    default:
      break;
  }
  // v4l2_m2m_qbuf()/streamon()/... end in v4l2_m2m_try_schedule().
  release_stale_held_capture();
  note_if_runnable();
  notify_pollers(false);
  device_->changed.notify_all();
  return ret;
}

int M2mInstance::querycap(v4l2_capability& cap) const {
  std::memset(&cap, 0, sizeof(cap));
  const HardwareProfile& profile = device_->profile();
  std::strncpy(reinterpret_cast<char*>(cap.driver), std::string(profile.driver).c_str(),
               sizeof(cap.driver) - 1);
  std::strncpy(reinterpret_cast<char*>(cap.card), std::string(profile.card).c_str(),
               sizeof(cap.card) - 1);
  std::strncpy(reinterpret_cast<char*>(cap.bus_info), std::string(profile.bus_info).c_str(),
               sizeof(cap.bus_info) - 1);
  cap.version = kEmulatedKernelVersion;
  // v4l_querycap(): the video_device's caps, plus V4L2_CAP_EXT_PIX_FORMAT in both fields.
  cap.device_caps = planes_.device_caps() | V4L2_CAP_EXT_PIX_FORMAT;
  cap.capabilities = cap.device_caps | V4L2_CAP_DEVICE_CAPS;
  return 0;
}

int M2mInstance::enum_fmt(v4l2_fmtdesc& desc) const {
  const Queue* queue = const_cast<M2mInstance*>(this)->queue_for(desc.type);
  if (!queue) return -EINVAL;
  // v4l_enum_fmt(): memset_after(p, 0, type) (no V4L2_CAP_IO_MC: mbus_code 0 too).
  const uint32_t index = desc.index, type = desc.type;
  std::memset(&desc, 0, sizeof(desc));
  desc.index = index;
  desc.type = type;
  if (const int ret = driver_->enum_fmt(queue->direction, index, desc.pixelformat)) return ret;
  describe_format(desc.pixelformat, desc);
  return 0;
}

int M2mInstance::get_fmt(v4l2_format& format) {
  Queue* queue = queue_for(format.type);
  if (!queue) return -EINVAL;
  v4l2_pix_format_mplane pix{};  // v4l_g_fmt(): memset(&p->fmt, 0, ...)
  driver_->get_fmt(queue->direction, pix);
  planes_.write_format(pix, format);
  return 0;
}

int M2mInstance::try_fmt(v4l2_format& format) const {
  const Queue* queue = const_cast<M2mInstance*>(this)->queue_for(format.type);
  if (!queue) return -EINVAL;
  v4l2_pix_format_mplane pix = planes_.read_format(format);
  if (const int ret = driver_->try_fmt(queue->direction, pix)) return ret;
  planes_.write_format(pix, format);
  return 0;
}

int M2mInstance::set_fmt(v4l2_format& format) {
  Queue* queue = queue_for(format.type);
  if (!queue) return -EINVAL;
  v4l2_pix_format_mplane pix = planes_.read_format(format);
  if (const int ret = driver_->set_fmt(queue->direction, pix, queue_busy())) return ret;
  planes_.write_format(pix, format);
  return 0;
}

int M2mInstance::enum_framesizes(v4l2_frmsizeenum& sizes) const {
  return driver_->enum_framesizes(sizes);
}

uint32_t M2mInstance::buffer_capabilities(const Queue& queue) const {
  // vb2_set_flags_and_caps() in videobuf2-v4l2.c (DMABUF import is not modelled).
  uint32_t caps = V4L2_BUF_CAP_SUPPORTS_MMAP | V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS;
  if (device_->profile().mmap_cache_hints) caps |= V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS;
  if (queue.is_output()) {
    caps |= V4L2_BUF_CAP_SUPPORTS_REQUESTS;
    // The queue's VB2_V4L2_FL_SUPPORTS_M2M_HOLD_CAPTURE_BUF subsystem flag.
    if (driver_->hold_capture_supported()) caps |= V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF;
  }
  return caps;
}

int M2mInstance::allocate_buffers(Queue& queue, uint32_t count, uint32_t planes,
                                  const uint32_t* sizes) {
  const std::string name = std::string("emu-") + (queue.is_output() ? "output" : "capture");
  for (uint32_t i = 0; i < count; ++i) {
    Buffer buffer;
    for (uint32_t p = 0; p < planes; ++p) {
      auto memory = std::make_shared<SharedMemory>();
      if (!SharedMemory::create(name.c_str(), sizes[p], *memory)) return i == 0 ? -ENOMEM : 0;
      buffer.planes.push_back(std::move(memory));
    }
    buffer.index = static_cast<uint32_t>(queue.buffers.size());
    queue.buffers.push_back(std::move(buffer));
  }
  return 0;
}

// The driver's buf_prepare (cedrus_buf_prepare, vb2ops_vdec_buf_prepare,
// hantro_buf_plane_check): every plane must hold the current format's size.
int M2mInstance::check_plane_sizes(const Queue& queue, const Buffer& buffer) const {
  const v4l2_pix_format_mplane format = driver_->queue_format(queue.direction);
  if (buffer.planes.size() < format.num_planes) return -EINVAL;
  for (uint32_t p = 0; p < format.num_planes; ++p)
    if (buffer.planes[p]->mapping.size() < format.plane_fmt[p].sizeimage) return -EINVAL;
  return 0;
}

// __vb2_queue_cancel(): every buffer goes back to the application; buffers of
// queued requests complete their request, buffers of idle requests leave it.
void M2mInstance::cancel_queue(Queue& queue) {
  for (Buffer& buffer : queue.buffers) {
    if (buffer.request) {
      if (buffer.state == BufferState::InRequest) {
        buffer.request->unbind_buffer(this, buffer.index);
      } else if (buffer.state == BufferState::Queued || buffer.state == BufferState::Active) {
        buffer.request->buffer_completed(this, buffer.index, current_controls_);
      }
    }
    buffer.request.reset();
    buffer.request_fd = -1;
    buffer.state = BufferState::Dequeued;
    buffer.held = false;
    buffer.failed_while_held = false;
    // __vb2_queue_cancel() clears copied_timestamp: vb2_find_buffer() no
    // longer finds these pictures by reference_ts.
    buffer.timestamp_copied = false;
    if (!queue.is_output()) buffer.picture.valid = false;
  }
  queue.ready.clear();
  queue.done.clear();
  queue.streaming = false;
  queue.uses_requests = false;
  queue.uses_qbuf = false;
  queue.sequence = 0;
  notify_pollers(true);  // __vb2_queue_cancel() -> wake_up_all(&q->done_wq)
}

void M2mInstance::free_buffers(Queue& queue) {
  cancel_queue(queue);
  queue.buffers.clear();  // mappings and exported fds keep their memory (orphaned)
}

int M2mInstance::reqbufs(v4l2_requestbuffers& request) {
  Queue* queue = queue_for(request.type);
  if (!queue) return -EINVAL;
  // Only MMAP buffers are emulated (DMABUF import is not).
  if (request.memory != V4L2_MEMORY_MMAP) return -EINVAL;
  request.capabilities = buffer_capabilities(*queue);
  // vidioc-reqbufs.rst: EBUSY while streaming.
  if (queue->streaming) return -EBUSY;
  free_buffers(*queue);
  if (request.count == 0) return 0;
  const uint32_t count = std::min(request.count, kMaxBuffers);
  // queue_setup() without requested planes: the format's planes and sizes;
  // vb2_core_reqbufs() refuses a plane of size 0.
  const v4l2_pix_format_mplane format = driver_->queue_format(queue->direction);
  uint32_t sizes[VIDEO_MAX_PLANES] = {};
  for (uint32_t p = 0; p < format.num_planes; ++p) {
    sizes[p] = format.plane_fmt[p].sizeimage;
    if (sizes[p] == 0) return -EINVAL;
  }
  if (format.num_planes == 0) return -EINVAL;
  if (const int ret = allocate_buffers(*queue, count, format.num_planes, sizes)) return ret;
  request.count = static_cast<uint32_t>(queue->buffers.size());
  return 0;
}

int M2mInstance::create_bufs(v4l2_create_buffers& create) {
  Queue* queue = queue_for(create.format.type);
  if (!queue) return -EINVAL;
  // v4l_create_bufs(): v4l_sanitize_format(), and a single-planar format
  // comes back with priv = V4L2_PIX_FMT_PRIV_MAGIC.
  planes_.write_format(planes_.read_format(create.format), create.format);
  if (create.memory != V4L2_MEMORY_MMAP) return -EINVAL;
  create.capabilities = buffer_capabilities(*queue);
  create.index = static_cast<uint32_t>(queue->buffers.size());
  if (create.count == 0) return 0;
  // vb2_create_bufs(): every plane needs a size.
  uint32_t planes = 0;
  uint32_t sizes[VIDEO_MAX_PLANES] = {};
  if (const int ret = planes_.requested_sizes(create.format, planes, sizes)) return ret;
  // queue_setup() with requested planes (hantro_queue_setup,
  // vb2ops_vdec_queue_setup, cedrus_queue_setup): the format's plane count,
  // no plane smaller than the format's.
  const v4l2_pix_format_mplane format = driver_->queue_format(queue->direction);
  if (planes != format.num_planes) return -EINVAL;
  for (uint32_t p = 0; p < planes; ++p)
    if (sizes[p] < format.plane_fmt[p].sizeimage) return -EINVAL;
  const uint32_t room = kMaxBuffers - static_cast<uint32_t>(queue->buffers.size());
  if (room == 0) return -ENOBUFS;
  const uint32_t count = std::min(create.count, room);
  if (const int ret = allocate_buffers(*queue, count, planes, sizes)) return ret;
  create.count = static_cast<uint32_t>(queue->buffers.size()) - create.index;
  return 0;
}

void M2mInstance::fill_buffer(const Queue& queue, const Buffer& buffer, v4l2_buffer& out) const {
  out.index = buffer.index;
  out.type = queue.type;
  out.memory = V4L2_MEMORY_MMAP;
  out.flags = buffer.flags | V4L2_BUF_FLAG_TIMESTAMP_COPY;
  switch (buffer.state) {
    case BufferState::Dequeued: break;
    case BufferState::InRequest: out.flags |= V4L2_BUF_FLAG_IN_REQUEST; break;
    case BufferState::Queued:
    case BufferState::Active: out.flags |= V4L2_BUF_FLAG_QUEUED; break;
    case BufferState::Done: out.flags |= V4L2_BUF_FLAG_DONE; break;
  }
  if (buffer.request_fd >= 0) {
    out.flags |= V4L2_BUF_FLAG_REQUEST_FD;
    out.request_fd = buffer.request_fd;
  }
  out.field = V4L2_FIELD_NONE;
  out.timestamp = buffer.timestamp;
  out.sequence = buffer.sequence;
  PlaneView views[VIDEO_MAX_PLANES];
  const uint32_t count = static_cast<uint32_t>(buffer.planes.size());
  for (uint32_t p = 0; p < count; ++p) {
    views[p].bytesused = buffer.bytesused[p];
    views[p].length = static_cast<uint32_t>(buffer.planes[p]->mapping.size());
    views[p].mem_offset = mmap_cookie(!queue.is_output(), buffer.index, p);
  }
  planes_.write_planes(views, count, out);
}

int M2mInstance::querybuf(v4l2_buffer& buffer) {
  if (const int ret = copy_in_plane_array(buffer)) return ret;
  Queue* queue = queue_for(buffer.type);
  if (!queue || buffer.index >= queue->buffers.size()) return -EINVAL;
  const Buffer& found = queue->buffers[buffer.index];
  if (const int ret = planes_.verify_planes(buffer, static_cast<uint32_t>(found.planes.size())))
    return ret;
  fill_buffer(*queue, found, buffer);
  return 0;
}

int M2mInstance::expbuf(v4l2_exportbuffer& exported) {
  Queue* queue = queue_for(exported.type);
  if (!queue || exported.index >= queue->buffers.size()) return -EINVAL;
  // vb2_core_expbuf(): only O_CLOEXEC and the access mode are accepted, and
  // the plane must exist (single-planar: plane 0 only).
  if (exported.flags & ~(O_CLOEXEC | O_ACCMODE)) return -EINVAL;
  const Buffer& buffer = queue->buffers[exported.index];
  if (exported.plane >= buffer.planes.size()) return -EINVAL;
  const int source = buffer.planes[exported.plane]->fd.get();
  const int fd = static_cast<int>(::syscall(
      SYS_fcntl, source, (exported.flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0));
  if (fd < 0) return -errno;
  exported.fd = fd;
  return 0;
}

int M2mInstance::qbuf(v4l2_buffer& user) {
  // check_array_args(), check_fmt(), the driver's vidioc_qbuf, then
  // vb2_queue_or_prepare_buf() + vb2_core_qbuf(), in their order.
  if (const int ret = copy_in_plane_array(user)) return ret;
  Queue* queue = queue_for(user.type);
  if (!queue) return -EINVAL;
  if (const int ret = driver_->queue_ioctl_refused()) return ret;
  if (user.memory != V4L2_MEMORY_MMAP) return -EINVAL;
  if (user.index >= queue->buffers.size()) return -EINVAL;
  Buffer& buffer = queue->buffers[user.index];
  const uint32_t num_planes = static_cast<uint32_t>(buffer.planes.size());
  if (const int ret = planes_.verify_planes(user, num_planes)) return ret;
  const bool with_request = user.flags & V4L2_BUF_FLAG_REQUEST_FD;
  // vidioc-qbuf.rst: a buffer with a request must be dequeued (not queued or in a request).
  if (with_request && buffer.state != BufferState::Dequeued) return -EINVAL;
  std::array<uint32_t, VIDEO_MAX_PLANES> bytesused{};
  if (queue->is_output()) {
    PlaneView views[VIDEO_MAX_PLANES];
    for (uint32_t p = 0; p < num_planes; ++p)
      views[p].length = static_cast<uint32_t>(buffer.planes[p]->mapping.size());
    // __verify_length(); then vb2_fill_vb2_v4l2_buffer(): bytesused 0 means
    // the whole plane (deprecated).
    if (const int ret = planes_.verify_length(user, views, num_planes)) return ret;
    for (uint32_t p = 0; p < num_planes; ++p) {
      bytesused[p] = planes_.bytesused(user, p);
      if (bytesused[p] == 0) bytesused[p] = views[p].length;
    }
  }
  if (!with_request) {
    // vidioc-qbuf.rst: EBADR when the queue requires requests (stateless OUTPUT).
    if (queue->is_output()) return -EBADR;
    if (queue->uses_requests) return -EBUSY;
  } else {
    // vidioc-qbuf.rst: EBADR when the queue does not support requests (CAPTURE);
    // EBUSY when it already took buffers without a request.
    if (!queue->is_output()) return -EBADR;
    if (queue->uses_qbuf) return -EBUSY;
  }
  if (with_request) {
    std::shared_ptr<RequestFile> file =
        std::dynamic_pointer_cast<RequestFile>(emulator_.fds().find(user.request_fd));
    // media_request_get_by_fd(): not a request of this media device -> EINVAL.
    if (!file || &file->request()->device() != device_.get()) return -EINVAL;
    const std::shared_ptr<Request>& request = file->request();
    // vidioc-qbuf.rst: EBUSY when the request is queued or completed.
    if (request->state() != Request::State::Idle) return -EBUSY;
    queue->uses_requests = true;
    request->bind_buffer(shared_from_this(), buffer.index);
    buffer.request = request;
    buffer.request_fd = user.request_fd;
    buffer.state = BufferState::InRequest;
  } else {
    // vb2_core_qbuf(): only a dequeued buffer can be queued again; then
    // __buf_prepare() runs the driver's buf_prepare.
    if (buffer.state != BufferState::Dequeued) return -EINVAL;
    if (const int ret = check_plane_sizes(*queue, buffer)) return ret;
    queue->uses_qbuf = true;
    buffer.request_fd = -1;
    buffer.state = BufferState::Queued;
    queue->ready.push_back(buffer.index);
  }
  // __fill_vb2_buffer(): the client's frame flags stay with an OUTPUT buffer
  // (HOLD_CAPTURE_BUF only if the queue supports it); CAPTURE drops them.
  uint32_t kept_flags = 0;
  if (queue->is_output()) {
    kept_flags = kFrameFlags;
    if (driver_->hold_capture_supported()) kept_flags |= V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF;
  }
  buffer.flags = user.flags & kept_flags;
  if (queue->is_output()) {
    buffer.bytesused = bytesused;
    buffer.timestamp = user.timestamp;  // V4L2_BUF_FLAG_TIMESTAMP_COPY
  }
  fill_buffer(*queue, buffer, user);
  return 0;
}

int M2mInstance::request_validate(uint32_t output_index) const {
  if (output_index >= output_.buffers.size()) return 0;
  return check_plane_sizes(output_, output_.buffers[output_index]);
}

void M2mInstance::request_queued(uint32_t output_index) {
  if (output_index >= output_.buffers.size()) return;
  Buffer& buffer = output_.buffers[output_index];
  if (buffer.state != BufferState::InRequest) return;
  buffer.state = BufferState::Queued;
  output_.ready.push_back(output_index);
  // vb2 hands the buffer to the driver (buf_queue) once the queue streams.
  if (output_.streaming) driver_->output_buffer_queued();
  release_stale_held_capture();  // v4l2_m2m_request_queue() -> v4l2_m2m_try_schedule()
  note_if_runnable();
  notify_pollers(false);
  device_->changed.notify_all();
}

void M2mInstance::request_unbound(uint32_t output_index) {
  if (output_index >= output_.buffers.size()) return;
  Buffer& buffer = output_.buffers[output_index];
  if (buffer.state != BufferState::InRequest) return;
  buffer.state = BufferState::Dequeued;
  buffer.request.reset();
  buffer.request_fd = -1;
}

int M2mInstance::dqbuf(int fd, v4l2_buffer& user, std::unique_lock<std::mutex>& lock) {
  if (const int ret = copy_in_plane_array(user)) return ret;
  Queue* queue = queue_for(user.type);
  if (!queue) return -EINVAL;
  if (const int ret = driver_->queue_ioctl_refused()) return ret;
  if (user.memory != V4L2_MEMORY_MMAP) return -EINVAL;
  const long status_flags = ::syscall(SYS_fcntl, fd, F_GETFL);
  const bool nonblocking = status_flags >= 0 && (status_flags & O_NONBLOCK);
  // __vb2_wait_for_done_vb(): EINVAL when not streaming, EAGAIN when
  // non-blocking and nothing is done, otherwise sleep until something is.
  while (true) {
    if (!queue->streaming || stopping_) return -EINVAL;
    if (!queue->done.empty()) break;
    if (nonblocking) return -EAGAIN;
    device_->changed.wait(lock);
  }
  Buffer& buffer = queue->buffers[queue->done.front()];
  // vb2_core_dqbuf() -> __vb2_get_done_vb(): the planes array is checked
  // against the buffer about to be dequeued, which then stays done.
  if (const int ret = planes_.verify_planes(user, static_cast<uint32_t>(buffer.planes.size())))
    return ret;
  queue->done.pop_front();
  buffer.state = BufferState::Dequeued;
  fill_buffer(*queue, buffer, user);
  buffer.request.reset();
  buffer.request_fd = -1;
  // buf_finish (vb2ops_vdec_buf_finish): a buffer whose job once failed
  // with EIO aborts mtk, at this and every later dequeue (its error mark
  // is never cleared).
  if (queue->is_output() && buffer.io_error) driver_->output_buffer_failed_io();
  return 0;
}

int M2mInstance::streamon(uint32_t type) {
  Queue* queue = queue_for(type);
  if (!queue) return -EINVAL;
  if (queue->streaming) return 0;
  // vb2_core_streamon(): no buffers allocated -> EINVAL.
  if (queue->buffers.empty()) return -EINVAL;
  queue->streaming = true;
  // Buffers queued before STREAMON reach the driver now (buf_queue), then
  // start_streaming runs.
  if (queue->is_output() && !queue->ready.empty()) driver_->output_buffer_queued();
  driver_->streaming_started(queue->direction);
  return 0;
}

int M2mInstance::streamoff(uint32_t type) {
  Queue* queue = queue_for(type);
  if (!queue) return -EINVAL;
  // v4l2_m2m_streamoff() -> v4l2_m2m_cancel_job(): wait for the running job.
  std::unique_lock<std::mutex> relock(device_->mutex, std::adopt_lock);
  abort_job_ = true;  // a hung job (job:hang) ends now, with ERROR
  device_->changed.notify_all();
  device_->changed.wait(relock, [&] { return !job_running_; });
  abort_job_ = false;
  relock.release();
  // stop_streaming runs before vb2 cancels the queue (vb2_core_streamoff ->
  // __vb2_queue_cancel); only a streaming queue has one to run.
  const bool driver_reset = queue->streaming && driver_->streaming_stopped(queue->direction);
  cancel_queue(*queue);
  if (queue->is_output() || driver_reset) backend_reset_pending_ = true;
  return 0;
}

int M2mInstance::ext_ctrls(unsigned long command, v4l2_ext_controls& controls) {
  const ControlTable& table = device_->controls();
  const bool get = command == VIDIOC_G_EXT_CTRLS;
  const bool set = command == VIDIOC_S_EXT_CTRLS;
  if (controls.which == V4L2_CTRL_WHICH_REQUEST_VAL) {
    // vidioc-g-ext-ctrls.rst: REQUEST_VAL needs a request fd of this media device.
    if (controls.request_fd < 0) return -EINVAL;
    std::shared_ptr<RequestFile> file =
        std::dynamic_pointer_cast<RequestFile>(emulator_.fds().find(controls.request_fd));
    if (!file || &file->request()->device() != device_.get()) return -EINVAL;
    Request& request = *file->request();
    if (get) {
      // v4l2_g_ext_ctrls_request(): only a completed request can be read (EACCES).
      if (request.state() != Request::State::Complete) return -EACCES;
      return table.get_ext_ctrls(controls, request.completed_values());
    }
    // media_request_lock_for_update(): a queued or completed request -> EBUSY.
    if (request.state() != Request::State::Idle) return -EBUSY;
    ControlValues staged;
    const int ret = table.try_ext_ctrls(controls, set, validation_context(), staged);
    if (ret == 0 && set) {
      ControlValues& target = request.controls_for(serial_);
      for (auto& [id, value] : staged) target[id] = std::move(value);
    }
    return ret;
  }
  if (get) return table.get_ext_ctrls(controls, current_controls_);
  ControlValues staged;
  const int ret = table.try_ext_ctrls(controls, set, validation_context(), staged);
  if (ret != 0 || !set) return ret;
  // try_set_ext_ctrls_common() sets one control cluster after the other
  // through the driver's s_ctrl; a refusal leaves the earlier ones set.
  size_t applied = 0;
  return set_controls(staged, current_controls_, applied);
}

// Makes `staged` current in `target` in control id order (the order of the
// handler's control list), calling the driver's s_ctrl for an SPS that
// changes (try_or_set_cluster(): "Don't set if there is no change").
// Stops at the first refusal; `applied` counts the values taken.
int M2mInstance::set_controls(const ControlValues& staged, ControlValues& target, size_t& applied) {
  applied = 0;
  for (const auto& [id, value] : staged) {
    if (id == V4L2_CID_STATELESS_H264_SPS && value.payload.size() == sizeof(v4l2_ctrl_h264_sps)) {
      auto current = target.find(id);
      const bool changed = current == target.end() || current->second.payload != value.payload;
      if (changed) {
        v4l2_ctrl_h264_sps sps;
        std::memcpy(&sps, value.payload.data(), sizeof(sps));
        if (const int ret = driver_->sps_changed(sps)) return ret;
      }
    }
    target[id] = value;
    ++applied;
  }
  return 0;
}

int M2mInstance::legacy_ctrl(unsigned long command, v4l2_control& control) {
  const ControlDef* def = device_->controls().find(control.id);
  // v4l2_g_ctrl()/v4l2_s_ctrl(): only integer-like controls.
  if (!def || def->is_compound() || def->type == V4L2_CTRL_TYPE_CTRL_CLASS) return -EINVAL;
  v4l2_ext_control ext{};
  ext.id = control.id;
  ext.value = control.value;
  v4l2_ext_controls controls{};
  controls.which = V4L2_CTRL_WHICH_CUR_VAL;
  controls.count = 1;
  controls.controls = &ext;
  const int ret = ext_ctrls(command == VIDIOC_G_CTRL ? VIDIOC_G_EXT_CTRLS : VIDIOC_S_EXT_CTRLS,
                            controls);
  control.value = ext.value;
  return ret;
}

std::mutex& M2mInstance::poll_lock() { return device_->mutex; }

int M2mInstance::ready_events(short requested) {
  // v4l2_m2m_poll() / v4l2_m2m_poll_for_data(); no events are emulated, so
  // never POLLPRI.
  if (!(requested & (POLLOUT | POLLWRNORM | POLLIN | POLLRDNORM))) return 0;
  if ((!output_.streaming || !output_.has_queued_buffers()) &&
      (!capture_.streaming || !capture_.has_queued_buffers()))
    return POLLERR;
  int events = 0;
  if (!output_.done.empty()) events |= POLLOUT | POLLWRNORM;
  if (!capture_.done.empty()) events |= POLLIN | POLLRDNORM;
  return events;
}

void M2mInstance::notify_pollers(bool event) { waiters_.wake_all(event); }

// v4l2_m2m_try_run() starts a job the moment it becomes runnable; remember
// that moment so the job's window starts there, not when the worker thread
// gets the CPU.
void M2mInstance::note_if_runnable() {
  if (job_running_) return;
  if (!job_ready()) runnable_since_.reset();
  else if (!runnable_since_) runnable_since_ = Clock::now();
}

void* M2mInstance::mmap(void* addr, size_t length, int prot, int flags, off_t offset) {
  std::lock_guard lock(device_->mutex);
  // v4l2_m2m_mmap(): DST_QUEUE_OFF_BASE selects the CAPTURE queue;
  // __find_plane_by_offset(): buffer index and plane from the cookie.
  const bool capture = offset >= kCaptureCookieBase;
  Queue& queue = capture ? capture_ : output_;
  const off_t local = capture ? offset - kCaptureCookieBase : offset;
  const size_t index = static_cast<size_t>(local >> kPlaneIndexShift);
  const size_t plane = static_cast<size_t>(local >> kPageShift) & (VIDEO_MAX_PLANES - 1);
  // vb2_mmap(): the offset must name a plane, the mapping must be shared and fit.
  if ((local & ((off_t{1} << kPageShift) - 1)) != 0 || index >= queue.buffers.size() ||
      plane >= queue.buffers[index].planes.size() || !(flags & MAP_SHARED) || length == 0 ||
      length > queue.buffers[index].planes[plane]->mapping.size()) {
    errno = EINVAL;
    return MAP_FAILED;
  }
  const long result = ::syscall(SYS_mmap, addr, length, prot, flags,
                                queue.buffers[index].planes[plane]->fd.get(), 0);
  if (result < 0 && result > -4096) {
    errno = static_cast<int>(-result);
    return MAP_FAILED;
  }
  return reinterpret_cast<void*>(result);
}

// __v4l2_m2m_try_queue(): a held CAPTURE buffer whose timestamp differs from
// the next OUTPUT buffer's is returned (state DONE) before a job is chosen.
// Nothing is checked while this instance's job runs (it is TRANS_QUEUED).
void M2mInstance::release_stale_held_capture() {
  if (job_running_ || !output_.streaming || !capture_.streaming) return;
  if (output_.ready.empty() || capture_.ready.empty()) return;
  Buffer& next_capture = capture_.buffers[capture_.ready.front()];
  const Buffer& next_output = output_.buffers[output_.ready.front()];
  if (!next_capture.held || !next_capture.timestamp_copied ||
      to_ns(next_capture.timestamp) == to_ns(next_output.timestamp))
    return;
  capture_.ready.pop_front();
  return_capture(next_capture, false);
}

// v4l2_m2m_buf_done(): the CAPTURE buffer goes to the done list.
void M2mInstance::return_capture(Buffer& buffer, bool failed) {
  buffer.flags &= kFrameFlags;
  if (failed || buffer.failed_while_held) buffer.flags |= V4L2_BUF_FLAG_ERROR;
  buffer.held = false;
  buffer.failed_while_held = false;
  buffer.state = BufferState::Done;
  capture_.done.push_back(buffer.index);
}

bool M2mInstance::job_ready() const {
  // v4l2_m2m_try_schedule(): both queues streaming, a buffer ready on each.
  // plus the driver's job_ready op.
  return !unplugged_ && !job_running_ && output_.streaming && capture_.streaming &&
         !output_.ready.empty() && !capture_.ready.empty() && driver_->job_ready();
}

M2mInstance::Job M2mInstance::start_job() {
  Job job{};
  job.output_index = output_.ready.front();
  output_.ready.pop_front();
  // The CAPTURE buffer stays first in its ready list while the job runs
  // (v4l2_m2m_next_dst_buf); finish_job removes it unless it is held.
  job.capture_index = capture_.ready.front();
  Buffer& out = output_.buffers[job.output_index];
  Buffer& cap = capture_.buffers[job.capture_index];
  out.state = cap.state = BufferState::Active;
  job_running_ = true;
  // v4l2_ctrl_request_setup(): the request's controls become current values.
  // The drivers' device_run ignores its result (mtk_vdec_worker), so a value
  // the driver's s_ctrl refuses leaves it and every later control of the
  // request unapplied; the model then fails the job instead of decoding
  // with the stale values (what the hardware then makes is not known).
  if (out.request)
    if (const ControlValues* values = out.request->controls_of(serial_)) {
      size_t applied = 0;
      if (const int ret = set_controls(*values, current_controls_, applied))
        job.setup_error = "request setup: the driver's s_ctrl refused the SPS (" +
                          std::string(std::strerror(-ret)) + "); " +
                          std::to_string(values->size() - applied) + " control(s) not applied";
    }
  if (!driver_->decoder_ready()) {
    job.setup_error = "no decoder instance (no S_FMT(OUTPUT) created one): device_run fails with EIO";
    job.io_error = true;
  }
  const ControlValues& values = current_controls_;
  job.output_pixelformat = driver_->queue_format(Direction::Output).pixelformat;
  job.serial = next_serial_++;
  if (job.output_pixelformat == V4L2_PIX_FMT_VP8_FRAME) {
    start_vp8_job(job, values, to_ns(out.timestamp));
  } else {
    start_h264_job(job, values, to_ns(out.timestamp));
  }
  // device_run() -> v4l2_m2m_buf_copy_metadata(): timestamp copied at job start.
  // With copy_frame_flags (hantro, rkvdec, cedrus) the frame flags go along.
  cap.timestamp = out.timestamp;
  cap.timestamp_copied = true;
  cap.flags = (cap.flags & ~kFrameFlags) | (out.flags & kFrameFlags);
  job.output_memory = out.planes[0];
  job.capture_planes = cap.planes;
  job.output_bytes = out.bytesused[0];
  job.picture = driver_->picture_layout();
  return job;
}

// The VP8 frame control, and which picture each reference timestamp names
// (vb2_find_buffer() among the CAPTURE buffers, before this job's timestamp
// is copied: hantro_get_ref(), cedrus_vp8 via vb2_find_buffer()).
void M2mInstance::start_vp8_job(Job& job, const ControlValues& values, uint64_t timestamp_ns) {
  (void)timestamp_ns;
  const auto* frame = payload_of<v4l2_ctrl_vp8_frame>(values, V4L2_CID_STATELESS_VP8_FRAME);
  if (!frame) return;
  job.vp8 = *frame;
  const uint64_t named[3] = {frame->last_frame_ts, frame->golden_frame_ts, frame->alt_frame_ts};
  for (int i = 0; i < 3; ++i) {
    for (uint32_t b = 0; b < capture_.buffers.size(); ++b) {
      const Buffer& buffer = capture_.buffers[b];
      if (!buffer.timestamp_copied || to_ns(buffer.timestamp) != named[i]) continue;
      if (b == job.capture_index) job.vpx_references.names_destination[i] = true;
      else job.vpx_references.serial[i] = buffer.picture.serial;
      break;
    }
  }
}

void M2mInstance::start_h264_job(Job& job, const ControlValues& values, uint64_t timestamp_ns) {
  if (auto* sps = payload_of<v4l2_ctrl_h264_sps>(values, V4L2_CID_STATELESS_H264_SPS))
    job.controls.sps = *sps;
  if (auto* pps = payload_of<v4l2_ctrl_h264_pps>(values, V4L2_CID_STATELESS_H264_PPS))
    job.controls.pps = *pps;
  if (auto* matrix = payload_of<v4l2_ctrl_h264_scaling_matrix>(
          values, V4L2_CID_STATELESS_H264_SCALING_MATRIX))
    job.controls.scaling_matrix = *matrix;
  if (auto* params = payload_of<v4l2_ctrl_h264_decode_params>(
          values, V4L2_CID_STATELESS_H264_DECODE_PARAMS))
    job.controls.decode_params = *params;
  if (device_->profile().slice_controls) {
    if (auto* slice = payload_of<v4l2_ctrl_h264_slice_params>(
            values, V4L2_CID_STATELESS_H264_SLICE_PARAMS))
      job.controls.slice_params = *slice;
    if (auto* weights = payload_of<v4l2_ctrl_h264_pred_weights>(
            values, V4L2_CID_STATELESS_H264_PRED_WEIGHTS))
      job.controls.pred_weights = *weights;
  }
  std::vector<PictureInfo> pictures;
  for (const Buffer& buffer : capture_.buffers) pictures.push_back(buffer.picture);
  const std::vector<DpbProblem> problems =
      check_dpb_entries(job.controls.decode_params, pictures, job.capture_index, timestamp_ns);
  for (const DpbProblem& problem : problems) job.dpb_problems.push_back(problem.message);
  plan_references(job, pictures, problems, timestamp_ns);
}

// V4L2_EMU_DPB_CHECK=hardware: which buffers the hardware reads for the
// references the check flagged, handed to the backend with the job.
void M2mInstance::plan_references(Job& job, const std::vector<PictureInfo>& pictures,
                                  const std::vector<DpbProblem>& problems, uint64_t timestamp_ns) {
  const HardwareReferencePlan plan =
      plan_hardware_references(job.controls.decode_params, pictures, job.capture_index, timestamp_ns,
                               reference_lookup_for(device_->profile().name), problems);
  job.cedrus_position = plan.output_position;
  if (emulator_.config().dpb_check != DpbCheckMode::Hardware) return;
  const std::optional<PictureLayout> layout = driver_->picture_layout();
  if (!layout) return;
  for (const HardwareReference& reference : plan.substituted) {
    const v4l2_h264_dpb_entry& entry = job.controls.decode_params.dpb[reference.entry];
    const auto& planes = capture_.buffers[reference.source_buffer].planes;
    ReferenceOverride override_;
    override_.top_poc = entry.top_field_order_cnt;
    override_.bottom_poc = entry.bottom_field_order_cnt;
    override_.fields = entry.fields;
    override_.source = capture_target(planes, *layout);
    job.reference_overrides.push_back(override_);
    job.reference_memory.insert(job.reference_memory.end(), planes.begin(), planes.end());
  }
}

void M2mInstance::finish_job(Job& job, const DecodeResult& result) {
  Buffer& out = output_.buffers[job.output_index];
  Buffer& cap = capture_.buffers[job.capture_index];
  // VP8: reference timestamps that name the wrong picture count as DPB
  // mismatches, like H.264's.
  job.dpb_problems.insert(job.dpb_problems.end(), result.reference_problems.begin(),
                          result.reference_problems.end());
  // V4L2_EMU_DPB_CHECK=hardware: a bad DPB entry gives wrong pixels, not ERROR.
  const bool strict_dpb = emulator_.config().dpb_check == DpbCheckMode::Strict;
  const bool failed = !result.ok || (strict_dpb && !job.dpb_problems.empty());
  cap.picture = picture_after_decode(cap.picture, to_ns(out.timestamp), job.controls.decode_params);
  cap.picture.cedrus_position = job.cedrus_position;
  cap.picture.serial = result.ok ? job.serial : 0;
  // buf_prepare set each CAPTURE plane's payload to the format's size.
  const v4l2_pix_format_mplane capture_format = driver_->queue_format(Direction::Capture);
  for (uint32_t p = 0; p < capture_format.num_planes && p < cap.planes.size(); ++p)
    cap.bytesused[p] = capture_format.plane_fmt[p].sizeimage;
  out.io_error |= job.io_error;
  out.sequence = output_.sequence++;
  cap.sequence = capture_.sequence++;
  // v4l2_m2m_buf_done_and_job_finish(): the CAPTURE buffer is held when the
  // OUTPUT buffer carried HOLD_CAPTURE_BUF, otherwise returned first; both
  // take the job's state.
  if (out.flags & V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF) {
    cap.held = true;
    cap.failed_while_held |= failed;
  } else {
    if (!capture_.ready.empty() && capture_.ready.front() == job.capture_index)
      capture_.ready.pop_front();
    return_capture(cap, failed);
  }
  out.flags = (out.flags & ~V4L2_BUF_FLAG_ERROR) | (failed ? V4L2_BUF_FLAG_ERROR : 0);
  out.state = BufferState::Done;
  output_.done.push_back(job.output_index);

  Counters& counters = emulator_.counters();
  if (failed) counters.error();
  else counters.frame_decoded();
  if (!job.dpb_problems.empty()) counters.dpb_mismatch();
  for (const std::string& problem : job.dpb_problems)
    emulator_.log("video%u: DPB mismatch (CAPTURE buffer %u %s): %s", device_->index(), job.capture_index,
                  strict_dpb ? "flagged ERROR" : "decoded as the hardware reads it", problem.c_str());
  if (!result.ok)
    emulator_.log("video%u: decode failed (CAPTURE buffer %u flagged ERROR): %s", device_->index(),
                  job.capture_index, result.error.c_str());
  if (!emulator_.config().record_path.empty())
    emulator_.record(record_json(device_->index(), to_ns(out.timestamp), job.controls,
                                 result.ok, job.dpb_problems.size()));
  if (out.request) out.request->buffer_completed(this, out.index, current_controls_);
  job_running_ = false;
  release_stale_held_capture();  // v4l2_m2m_schedule_next_job() -> try_schedule
  // A job queued while this one ran starts where this one's window ended.
  if (job_ready()) runnable_since_ = device_free_at_;
  notify_pollers(true);  // vb2_buffer_done() -> wake_up(&q->done_wq)
  device_->changed.notify_all();
}

namespace {

// clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME): steady_clock's clock, and
// a syscall Firefox's sandbox allows for that clock.
void sleep_until(std::chrono::steady_clock::time_point deadline) {
  const auto since_epoch = deadline.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(seconds.count());
  ts.tv_nsec = static_cast<long>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count());
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

std::chrono::microseconds as_us(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

}  // namespace

// device_run(): the decode itself, outside the device lock.
DecodeResult M2mInstance::run_decode(Job& job, bool hardware_dpb) {
  DecodeResult result;
  if (job.fault.kind == JobFaultKind::Error) {
    result.error = "decode job failed (V4L2_EMU_FAULTS job:error)";
    return result;
  }
  if (job.fault.kind == JobFaultKind::Timeout) {
    result.error = "decode job timed out; the driver's watchdog finished it (V4L2_EMU_FAULTS job:timeout)";
    return result;
  }
  if (!job.setup_error.empty()) {
    result.error = job.setup_error;
    return result;
  }
  if (!job.picture) {
    result.error = "the CAPTURE format is not a picture format the hardware writes";
    return result;
  }
  if (job.output_pixelformat == V4L2_PIX_FMT_VP8_FRAME) {
    const CaptureTarget target = capture_target(job.capture_planes, *job.picture);
    if (!target.chroma.data) {
      result.error = "CAPTURE buffer has no room for the chroma plane";
      return result;
    }
    return run_vp8_decode(job, target);
  }
  if (!backend_) {
    result.error = "the emulator was built without a decoding backend";
    return result;
  }
  if (job.output_pixelformat != V4L2_PIX_FMT_H264_SLICE) {
    result.error = "the OUTPUT format is neither H264_SLICE nor VP8_FRAME; the emulator decodes nothing else";
    return result;
  }
  const PictureLayout& picture = *job.picture;
  const v4l2_ctrl_h264_sps& sps = job.controls.sps;
  const uint32_t sps_width = (sps.pic_width_in_mbs_minus1 + 1u) * 16u;
  const uint32_t sps_height = (sps.pic_height_in_map_units_minus1 + 1u) * 16u *
                              ((sps.flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY) ? 1u : 2u);
  if (sps_width > picture.width || sps_height > picture.height) {
    result.error = "SPS picture " + std::to_string(sps_width) + "x" + std::to_string(sps_height) +
                   " larger than the CAPTURE format " + std::to_string(picture.width) + "x" +
                   std::to_string(picture.height);
    return result;
  }
  const CaptureTarget target = capture_target(job.capture_planes, picture);
  if (!target.chroma.data) {
    result.error = "CAPTURE buffer has no room for the chroma plane";
    return result;
  }
  if (hardware_dpb) backend_->set_reference_overrides(std::move(job.reference_overrides));
  return backend_->decode(job.controls, job.output_memory->mapping.data(),
                          std::min<size_t>(job.output_bytes, job.output_memory->mapping.size()),
                          target);
}

DecodeResult M2mInstance::run_vp8_decode(Job& job, const CaptureTarget& target) {
  DecodeResult result;
  if (!job.vp8) {
    result.error = "the device has no VP8 frame control";
    return result;
  }
  if (!vp8_backend_) {
#ifdef EMU_HAVE_VP8_BACKEND
    vp8_backend_ = Vp8Backend::create();
#else
    result.error = "the emulator was built without a VP8 backend (no gstreamer-codecparsers-1.0)";
    return result;
#endif
  }
  return vp8_backend_->decode(*job.vp8, job.vpx_references, job.serial, job.output_memory->mapping.data(),
                              std::min<size_t>(job.output_bytes, job.output_memory->mapping.size()), target);
}

// Hardware timing: a job occupies the device for decode_time_ from the moment
// it became runnable (v4l2_m2m_try_run), and the backend's real decode runs
// inside that window; the picture is published when the window ends, or when
// the backend finishes if it is slower (counted: jobs_over_budget). A
// job:slow fault lengthens that job's window by its delay.
void M2mInstance::worker_main() {
  std::unique_lock lock(device_->mutex);
  while (true) {
    device_->changed.wait(lock, [&] { return stopping_ || job_ready(); });
    if (stopping_) break;
    const JobFault fault = emulator_.faults().on_job_start(static_cast<int>(device_->index()));
    if (fault.kind == JobFaultKind::Unplugged) {
      // video_unregister_device(): no job runs any more; what is queued
      // stays queued until close cancels it. Pollers see POLLERR|POLLHUP.
      unplugged_ = true;
      notify_pollers(true);
      device_->changed.notify_all();
      continue;
    }
    const Clock::time_point start = runnable_since_.value_or(Clock::now());
    runnable_since_.reset();
    Job job = start_job();
    job.fault = fault;
    if (fault.kind == JobFaultKind::Hang) {
      // Stuck in the hardware until STREAMOFF or close aborts it
      // (v4l2_m2m_cancel_job() -> the driver's job_abort).
      device_->changed.wait(lock, [&] { return stopping_ || abort_job_; });
      device_free_at_ = Clock::now();
      finish_job(job, {false, "decode job hung (V4L2_EMU_FAULTS job:hang), aborted by STREAMOFF or close", {}});
      continue;
    }
    const bool reset = std::exchange(backend_reset_pending_, false);
    const DecodeMode mode =
        current_controls_[V4L2_CID_STATELESS_H264_DECODE_MODE].integer ==
                V4L2_STATELESS_H264_DECODE_MODE_SLICE_BASED
            ? DecodeMode::SliceBased
            : DecodeMode::FrameBased;
    const StartCode start_code =
        current_controls_[V4L2_CID_STATELESS_H264_START_CODE].integer ==
                V4L2_STATELESS_H264_START_CODE_ANNEX_B
            ? StartCode::AnnexB
            : StartCode::None;
    const bool hardware_dpb = hardware_dpb_;
    lock.unlock();

    const Clock::time_point backend_start = Clock::now();
    if (reset && vp8_backend_) vp8_backend_->reset();
    if (job.output_pixelformat == V4L2_PIX_FMT_VP8_FRAME) {
      // The VP8 backend is made by its first job (run_vp8_decode).
    } else if (!backend_ || mode != backend_mode_ || start_code != backend_start_code_) {
      backend_ = emulator_.make_backend(mode, start_code);
      backend_mode_ = mode;
      backend_start_code_ = start_code;
    } else if (reset) {
      backend_->reset();
    }
    const DecodeResult result = run_decode(job, hardware_dpb);
    const Clock::time_point backend_end = Clock::now();
    const Clock::time_point window_end =
        start + decode_time_ + std::chrono::microseconds(job.fault.delay_us);
    if (backend_end < window_end) sleep_until(window_end);

    lock.lock();
    device_free_at_ = std::max(window_end, backend_end);
    JobTiming timing;
    timing.backend = as_us(backend_end - backend_start);
    timing.over_budget = decode_time_.count() > 0 && backend_end - backend_start > decode_time_;
    timing.busy = as_us(device_free_at_ - start);
    timing.late = as_us(std::max(Clock::now() - device_free_at_, Clock::duration::zero()));
    emulator_.counters().job_timed(timing);
    finish_job(job, result);
  }
}

}  // namespace emu
