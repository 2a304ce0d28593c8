// visl-request-probe: proves the request API works on a real kernel decoder
// (visl) the way our driver uses it: a fixed set of request fds, each bound
// to one OUTPUT slot, reused with MEDIA_REQUEST_IOC_REINIT after completion.
//
// Usage: visl-request-probe VIDEO MEDIA FRAMES slice|frame
// Prints one "probe:" line per fact and exits non-zero on the first failure.
//        visl-request-probe --ioctl-names
// Prints "<hex number>\t<name>" for the V4L2 and media ioctls, from the
// uAPI headers this was built with, so ioctl traces can be named.
// Each request carries a DECODE_PARAMS with frame_num = its frame index, so
// the kernel's trace shows whether every request applied its own controls.
#include <fcntl.h>
#include <linux/media.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

// Owns one file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

// Owns one mmap()ed buffer plane.
class Mapping {
 public:
  Mapping(void* addr, size_t length) : addr_(addr), length_(length) {}
  Mapping(Mapping&& other) noexcept
      : addr_(std::exchange(other.addr_, MAP_FAILED)), length_(std::exchange(other.length_, 0)) {}
  Mapping& operator=(Mapping&&) = delete;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr_ != MAP_FAILED) ::munmap(addr_, length_);
  }
  void* data() const { return addr_; }
  size_t size() const { return length_; }

 private:
  void* addr_;
  size_t length_;
};

[[noreturn]] void fail(const char* what, int err) {
  std::printf("probe: FAIL %s: %s\n", what, std::strerror(err));
  std::exit(1);
}

int xioctl(int fd, unsigned long request, void* arg) {
  int r;
  do r = ::ioctl(fd, request, arg);
  while (r < 0 && errno == EINTR);
  return r < 0 ? errno : 0;
}

void must(int fd, unsigned long request, void* arg, const char* what) {
  if (int err = xioctl(fd, request, arg)) fail(what, err);
}

void set_menu_control(int video_fd, uint32_t id, int32_t value, const char* what) {
  v4l2_ext_control ctrl{};
  ctrl.id = id;
  ctrl.value = value;
  v4l2_ext_controls ctrls{};
  ctrls.which = V4L2_CTRL_WHICH_CUR_VAL;
  ctrls.count = 1;
  ctrls.controls = &ctrl;
  must(video_fd, VIDIOC_S_EXT_CTRLS, &ctrls, what);
}

std::vector<Mapping> map_planes(int video_fd, v4l2_buf_type type, uint32_t index) {
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer buf{};
  buf.type = type;
  buf.memory = V4L2_MEMORY_MMAP;
  buf.index = index;
  buf.length = VIDEO_MAX_PLANES;
  buf.m.planes = planes;
  must(video_fd, VIDIOC_QUERYBUF, &buf, "VIDIOC_QUERYBUF");
  std::vector<Mapping> out;
  for (uint32_t p = 0; p < buf.length; ++p) {
    void* addr = ::mmap(nullptr, planes[p].length, PROT_READ | PROT_WRITE, MAP_SHARED, video_fd,
                        planes[p].m.mem_offset);
    if (addr == MAP_FAILED) fail("mmap", errno);
    out.emplace_back(addr, planes[p].length);
  }
  return out;
}

struct NamedIoctl {
  unsigned long number;
  const char* name;
};

#define NAMED_IOCTL(x) NamedIoctl{x, #x}
constexpr NamedIoctl kIoctlNames[] = {
    NAMED_IOCTL(VIDIOC_QUERYCAP), NAMED_IOCTL(VIDIOC_ENUM_FMT), NAMED_IOCTL(VIDIOC_G_FMT),
    NAMED_IOCTL(VIDIOC_S_FMT), NAMED_IOCTL(VIDIOC_TRY_FMT), NAMED_IOCTL(VIDIOC_REQBUFS),
    NAMED_IOCTL(VIDIOC_CREATE_BUFS), NAMED_IOCTL(VIDIOC_QUERYBUF), NAMED_IOCTL(VIDIOC_QBUF),
    NAMED_IOCTL(VIDIOC_DQBUF), NAMED_IOCTL(VIDIOC_EXPBUF), NAMED_IOCTL(VIDIOC_STREAMON),
    NAMED_IOCTL(VIDIOC_STREAMOFF), NAMED_IOCTL(VIDIOC_G_CTRL), NAMED_IOCTL(VIDIOC_S_CTRL),
    NAMED_IOCTL(VIDIOC_QUERYCTRL), NAMED_IOCTL(VIDIOC_QUERY_EXT_CTRL), NAMED_IOCTL(VIDIOC_QUERYMENU),
    NAMED_IOCTL(VIDIOC_G_EXT_CTRLS), NAMED_IOCTL(VIDIOC_S_EXT_CTRLS), NAMED_IOCTL(VIDIOC_TRY_EXT_CTRLS),
    NAMED_IOCTL(VIDIOC_ENUM_FRAMESIZES), NAMED_IOCTL(VIDIOC_ENUM_FRAMEINTERVALS),
    NAMED_IOCTL(VIDIOC_G_SELECTION), NAMED_IOCTL(VIDIOC_S_SELECTION), NAMED_IOCTL(VIDIOC_SUBSCRIBE_EVENT),
    NAMED_IOCTL(VIDIOC_UNSUBSCRIBE_EVENT), NAMED_IOCTL(VIDIOC_DQEVENT), NAMED_IOCTL(VIDIOC_DECODER_CMD),
    NAMED_IOCTL(VIDIOC_TRY_DECODER_CMD), NAMED_IOCTL(VIDIOC_PREPARE_BUF),
    NAMED_IOCTL(MEDIA_IOC_DEVICE_INFO), NAMED_IOCTL(MEDIA_IOC_G_TOPOLOGY), NAMED_IOCTL(MEDIA_IOC_ENUM_ENTITIES),
    NAMED_IOCTL(MEDIA_IOC_ENUM_LINKS), NAMED_IOCTL(MEDIA_IOC_REQUEST_ALLOC), NAMED_IOCTL(MEDIA_REQUEST_IOC_QUEUE),
    NAMED_IOCTL(MEDIA_REQUEST_IOC_REINIT),
};
#undef NAMED_IOCTL

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--ioctl-names") {
    for (const NamedIoctl& ioctl_name : kIoctlNames) std::printf("%lx\t%s\n", ioctl_name.number, ioctl_name.name);
    return 0;
  }
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s VIDEO MEDIA FRAMES slice|frame\n", argv[0]);
    return 2;
  }
  const int frames = std::atoi(argv[3]);
  const bool slice_based = std::string(argv[4]) == "slice";
  constexpr uint32_t kSlots = 2;
  constexpr uint32_t kWidth = 176, kHeight = 144;

  UniqueFd video(::open(argv[1], O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!video.valid()) fail(argv[1], errno);
  UniqueFd media(::open(argv[2], O_RDWR | O_CLOEXEC));
  if (!media.valid()) fail(argv[2], errno);

  v4l2_capability cap{};
  must(video.get(), VIDIOC_QUERYCAP, &cap, "VIDIOC_QUERYCAP");
  std::printf("probe: driver %s card %s\n", reinterpret_cast<const char*>(cap.driver),
              reinterpret_cast<const char*>(cap.card));

  // The coded format is set first: it decides the CAPTURE formats
  // (dev-stateless-decoder.rst, "Initialization").
  v4l2_format out_fmt{};
  out_fmt.type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
  out_fmt.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_H264_SLICE;
  out_fmt.fmt.pix_mp.width = kWidth;
  out_fmt.fmt.pix_mp.height = kHeight;
  out_fmt.fmt.pix_mp.num_planes = 1;
  out_fmt.fmt.pix_mp.plane_fmt[0].sizeimage = 64 * 1024;
  must(video.get(), VIDIOC_S_FMT, &out_fmt, "VIDIOC_S_FMT(OUTPUT)");

  set_menu_control(video.get(), V4L2_CID_STATELESS_H264_DECODE_MODE,
                   slice_based ? V4L2_STATELESS_H264_DECODE_MODE_SLICE_BASED
                               : V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED,
                   "S_EXT_CTRLS(DECODE_MODE)");
  set_menu_control(video.get(), V4L2_CID_STATELESS_H264_START_CODE,
                   slice_based ? V4L2_STATELESS_H264_START_CODE_NONE : V4L2_STATELESS_H264_START_CODE_ANNEX_B,
                   "S_EXT_CTRLS(START_CODE)");

  v4l2_requestbuffers req{};
  req.count = kSlots;
  req.type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
  req.memory = V4L2_MEMORY_MMAP;
  must(video.get(), VIDIOC_REQBUFS, &req, "VIDIOC_REQBUFS(OUTPUT)");
  if (!(req.capabilities & V4L2_BUF_CAP_SUPPORTS_REQUESTS)) fail("OUTPUT queue lacks SUPPORTS_REQUESTS", EINVAL);
  const uint32_t output_count = req.count;
  req = {};
  req.count = kSlots;
  req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
  req.memory = V4L2_MEMORY_MMAP;
  must(video.get(), VIDIOC_REQBUFS, &req, "VIDIOC_REQBUFS(CAPTURE)");
  const uint32_t capture_count = req.count;
  std::printf("probe: %u OUTPUT and %u CAPTURE buffers\n", output_count, capture_count);

  std::vector<std::vector<Mapping>> output_maps;
  for (uint32_t i = 0; i < output_count; ++i)
    output_maps.push_back(map_planes(video.get(), V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, i));

  // One request per OUTPUT slot for the whole run (media-request-ioc-reinit.rst).
  std::vector<UniqueFd> requests;
  int allocations = 0;
  for (uint32_t i = 0; i < output_count; ++i) {
    int request_fd = -1;
    must(media.get(), MEDIA_IOC_REQUEST_ALLOC, &request_fd, "MEDIA_IOC_REQUEST_ALLOC");
    ++allocations;
    requests.emplace_back(request_fd);
  }

  for (v4l2_buf_type type : {V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE}) {
    int t = type;
    must(video.get(), VIDIOC_STREAMON, &t, "VIDIOC_STREAMON");
  }

  int completed = 0;
  for (int frame = 0; frame < frames; ++frame) {
    const uint32_t slot = uint32_t(frame) % output_count;
    const int request_fd = requests[slot].get();

    v4l2_ctrl_h264_sps sps{};
    sps.profile_idc = 66;
    sps.level_idc = 30;
    sps.chroma_format_idc = 1;
    sps.max_num_ref_frames = 1;
    sps.pic_width_in_mbs_minus1 = kWidth / 16 - 1;
    sps.pic_height_in_map_units_minus1 = kHeight / 16 - 1;
    sps.flags = V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY;
    v4l2_ctrl_h264_pps pps{};
    v4l2_ctrl_h264_decode_params decode{};
    decode.frame_num = uint16_t(frame);
    decode.nal_ref_idc = 1;
    decode.flags = V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC;
    v4l2_ext_control ctrl[3]{};
    ctrl[0].id = V4L2_CID_STATELESS_H264_SPS;
    ctrl[0].size = sizeof sps;
    ctrl[0].ptr = &sps;
    ctrl[1].id = V4L2_CID_STATELESS_H264_PPS;
    ctrl[1].size = sizeof pps;
    ctrl[1].ptr = &pps;
    ctrl[2].id = V4L2_CID_STATELESS_H264_DECODE_PARAMS;
    ctrl[2].size = sizeof decode;
    ctrl[2].ptr = &decode;
    v4l2_ext_controls ctrls{};
    ctrls.which = V4L2_CTRL_WHICH_REQUEST_VAL;
    ctrls.request_fd = request_fd;
    ctrls.count = 3;
    ctrls.controls = ctrl;
    must(video.get(), VIDIOC_S_EXT_CTRLS, &ctrls, "VIDIOC_S_EXT_CTRLS(request)");

    // A tiny IDR slice payload; visl does not parse it.
    static const unsigned char kSlice[] = {0x00, 0x00, 0x01, 0x65, 0x88, 0x84, 0x00, 0x33};
    std::memcpy(output_maps[slot][0].data(), kSlice, sizeof kSlice);

    v4l2_plane out_plane{};
    out_plane.bytesused = sizeof kSlice;
    v4l2_buffer out{};
    out.type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
    out.memory = V4L2_MEMORY_MMAP;
    out.index = slot;
    out.length = 1;
    out.m.planes = &out_plane;
    out.flags = V4L2_BUF_FLAG_REQUEST_FD;
    out.request_fd = request_fd;
    out.timestamp.tv_usec = frame + 1;
    must(video.get(), VIDIOC_QBUF, &out, "VIDIOC_QBUF(OUTPUT)");

    v4l2_plane cap_planes[VIDEO_MAX_PLANES]{};
    v4l2_buffer capbuf{};
    capbuf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
    capbuf.memory = V4L2_MEMORY_MMAP;
    capbuf.index = uint32_t(frame) % capture_count;
    capbuf.length = VIDEO_MAX_PLANES;
    capbuf.m.planes = cap_planes;
    must(video.get(), VIDIOC_QBUF, &capbuf, "VIDIOC_QBUF(CAPTURE)");

    must(request_fd, MEDIA_REQUEST_IOC_QUEUE, nullptr, "MEDIA_REQUEST_IOC_QUEUE");

    // Completion is signalled as POLLPRI on the request fd (media-request-ioc-queue.rst).
    pollfd pfd{request_fd, POLLPRI, 0};
    int ready;
    do ready = ::poll(&pfd, 1, -1);
    while (ready < 0 && errno == EINTR);
    if (ready < 0) fail("poll(request)", errno);

    v4l2_plane done_out_plane{};
    v4l2_buffer done_out{};
    done_out.type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
    done_out.memory = V4L2_MEMORY_MMAP;
    done_out.length = 1;
    done_out.m.planes = &done_out_plane;
    must(video.get(), VIDIOC_DQBUF, &done_out, "VIDIOC_DQBUF(OUTPUT)");
    v4l2_plane done_cap_planes[VIDEO_MAX_PLANES]{};
    v4l2_buffer done_cap{};
    done_cap.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
    done_cap.memory = V4L2_MEMORY_MMAP;
    done_cap.length = VIDEO_MAX_PLANES;
    done_cap.m.planes = done_cap_planes;
    must(video.get(), VIDIOC_DQBUF, &done_cap, "VIDIOC_DQBUF(CAPTURE)");
    if (done_cap.flags & V4L2_BUF_FLAG_ERROR) fail("CAPTURE buffer flagged ERROR", EIO);
    if (done_cap.timestamp.tv_usec != frame + 1) fail("CAPTURE timestamp not copied from OUTPUT", EINVAL);

    // A completed request goes back to idle for the next use of its slot
    // (media-request-ioc-reinit.rst).
    must(request_fd, MEDIA_REQUEST_IOC_REINIT, nullptr, "MEDIA_REQUEST_IOC_REINIT");
    ++completed;
  }

  std::printf("probe: requests_allocated %d\n", allocations);
  std::printf("probe: frames_completed %d of %d\n", completed, frames);
  std::printf("probe: OK\n");
  return 0;
}
