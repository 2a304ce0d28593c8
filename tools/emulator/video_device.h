// One open of /dev/videoN: a V4L2 m2m stateless decoder instance (its OUTPUT
// and CAPTURE queues, its controls, its worker thread that runs decode jobs in
// order). The rules here are those of the V4L2 core (v4l2-ioctl.c), vb2
// (videobuf2-core.c, videobuf2-v4l2.c) and v4l2-mem2mem.c; the driver's own
// callbacks are a CodecDriver (codec_driver.h) and the planes API a
// PlanesApi (planes_api.h).
#pragma once

#include <linux/videodev2.h>

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "codec_driver.h"
#include "controls.h"
#include "dpb_check.h"
#include "fd_table.h"
#include "h264_backend.h"
#include "media_device.h"
#include "planes_api.h"
#include "unique_fd.h"
#include "vpx_backend.h"
#include "wait_queue.h"

namespace emu {

class Request;

class M2mInstance : public std::enable_shared_from_this<M2mInstance>, public PollTarget {
 public:
  // Creates the instance and the client's fd (returned in client_fd).
  static std::shared_ptr<M2mInstance> create(std::shared_ptr<EmulatedDevice> device, int open_flags,
                                             int& client_fd, int& error);
  ~M2mInstance();

  int ioctl(int fd, unsigned long request, void* arg);
  // PollTarget (v4l2_m2m_poll); the device mutex guards the instance.
  std::mutex& poll_lock() override;
  WaitQueue& wait_queue() override { return waiters_; }
  int ready_events(short requested) override;
  void* mmap(void* addr, size_t length, int prot, int flags, off_t offset);
  uint64_t serial() const { return serial_; }
  EmulatedDevice& device() { return *device_; }

  // Called by Request with the device mutex held.
  // vb2_request_validate() -> __buf_prepare(): the driver's buf_prepare size check.
  int request_validate(uint32_t output_index) const;
  void request_queued(uint32_t output_index);
  void request_unbound(uint32_t output_index);

 private:
  enum class BufferState { Dequeued, InRequest, Queued, Active, Done };
  struct Buffer {
    uint32_t index = 0;
    std::vector<std::shared_ptr<SharedMemory>> planes;  // shared with a running job
    BufferState state = BufferState::Dequeued;
    std::array<uint32_t, VIDEO_MAX_PLANES> bytesused{};
    uint32_t flags = 0;  // V4L2_BUF_FLAG_ERROR etc. of the last completion
    timeval timestamp{};
    uint32_t sequence = 0;
    std::shared_ptr<Request> request;  // while bound to a request (OUTPUT)
    int request_fd = -1;
    PictureInfo picture;  // CAPTURE: what was last decoded into it
    // CAPTURE: vb2_buffer.copied_timestamp, set when a job copies the OUTPUT
    // timestamp into it (v4l2_m2m_buf_copy_metadata), cleared by a cancel.
    bool timestamp_copied = false;
    // CAPTURE: vb2_v4l2_buffer.is_held, kept for the next job by
    // V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF on the OUTPUT buffer of the last one.
    bool held = false;
    // CAPTURE: a job that wrote into this held buffer failed; the model
    // reports it when the buffer is returned (the kernel reports only the
    // state of the job that returns it).
    bool failed_while_held = false;
    // OUTPUT: its job failed with EIO (the driver sees it at DQBUF, buf_finish).
    bool io_error = false;
  };
  struct Queue {
    uint32_t type = 0;
    Direction direction = Direction::Output;
    std::vector<Buffer> buffers;
    bool streaming = false;
    bool uses_requests = false;  // vb2 uses_requests / uses_qbuf
    bool uses_qbuf = false;
    std::deque<uint32_t> ready;  // queued to the driver, waiting for a job
    std::deque<uint32_t> done;   // completed, waiting for DQBUF
    uint32_t sequence = 0;
    bool is_output() const { return direction == Direction::Output; }
    bool has_queued_buffers() const;
  };
  struct Job {
    uint32_t output_index, capture_index;
    std::shared_ptr<SharedMemory> output_memory;
    std::vector<std::shared_ptr<SharedMemory>> capture_planes;
    uint32_t output_bytes;
    uint32_t output_pixelformat;
    H264RequestControls controls;
    std::optional<PictureLayout> picture;  // where the CAPTURE format puts the picture
    std::vector<std::string> dpb_problems;
    std::string setup_error;  // the driver refused the job's controls or has no decoder
    bool io_error = false;    // the failure is the driver's EIO (mtk without an instance)
    uint64_t generation;
    JobFault fault;  // V4L2_EMU_FAULTS job rules
    // V4L2_EMU_DPB_CHECK=hardware: references read from other buffers,
    // whose memory the job keeps alive.
    std::vector<ReferenceOverride> reference_overrides;
    std::vector<std::shared_ptr<SharedMemory>> reference_memory;
    unsigned cedrus_position = 0;
    // VP8 jobs: the frame control and what its reference timestamps name.
    std::optional<v4l2_ctrl_vp8_frame> vp8;
    VpxReferenceLookup vpx_references;
    uint64_t serial = 0;  // the picture this job makes (VP8 reference tracking)
  };

  using Clock = std::chrono::steady_clock;

  explicit M2mInstance(std::shared_ptr<EmulatedDevice> device);
  Queue* queue_for(uint32_t type);
  static uint64_t to_ns(const timeval& tv);
  QueueBusy queue_busy() const;

  // ioctl handlers; all run with device_->mutex held.
  int querycap(v4l2_capability& cap) const;
  int enum_fmt(v4l2_fmtdesc& desc) const;
  int get_fmt(v4l2_format& format);
  int try_fmt(v4l2_format& format) const;
  int set_fmt(v4l2_format& format);
  int enum_framesizes(v4l2_frmsizeenum& sizes) const;
  int reqbufs(v4l2_requestbuffers& request);
  int create_bufs(v4l2_create_buffers& create);
  int querybuf(v4l2_buffer& buffer);
  int expbuf(v4l2_exportbuffer& exported);
  int qbuf(v4l2_buffer& buffer);
  int dqbuf(int fd, v4l2_buffer& buffer, std::unique_lock<std::mutex>& lock);
  int streamon(uint32_t type);
  int streamoff(uint32_t type);
  int ext_ctrls(unsigned long request, v4l2_ext_controls& controls);
  int legacy_ctrl(unsigned long request, v4l2_control& control);

  uint32_t buffer_capabilities(const Queue& queue) const;
  void fill_buffer(const Queue& queue, const Buffer& buffer, v4l2_buffer& out) const;
  int allocate_buffers(Queue& queue, uint32_t count, uint32_t planes, const uint32_t* sizes);
  void free_buffers(Queue& queue);
  void cancel_queue(Queue& queue);
  int check_plane_sizes(const Queue& queue, const Buffer& buffer) const;
  int set_controls(const ControlValues& staged, ControlValues& target, size_t& applied);
  ValidationContext validation_context() const;
  // Wakes pollers after a change; `event` where the kernel calls wake_up().
  void notify_pollers(bool event);
  void note_if_runnable();
  void update_backend_config();

  void worker_main();
  bool job_ready() const;
  void release_stale_held_capture();
  void return_capture(Buffer& buffer, bool failed);
  Job start_job();
  void start_vp8_job(Job& job, const ControlValues& values, uint64_t timestamp_ns);
  void start_h264_job(Job& job, const ControlValues& values, uint64_t timestamp_ns);
  DecodeResult run_vp8_decode(Job& job, const CaptureTarget& target);
  void plan_references(Job& job, const std::vector<PictureInfo>& pictures,
                       const std::vector<DpbProblem>& problems, uint64_t timestamp_ns);
  void finish_job(Job& job, const DecodeResult& result);
  DecodeResult run_decode(Job& job, bool hardware_dpb);

  std::shared_ptr<EmulatedDevice> device_;
  Emulator& emulator_;
  const uint64_t serial_;
  const PlanesApi& planes_;
  std::unique_ptr<CodecDriver> driver_;
  Queue output_, capture_;
  ControlValues current_controls_;
  const std::chrono::microseconds decode_time_;  // V4L2_EMU_DECODE_US: one job's wall time
  const bool hardware_dpb_;                      // V4L2_EMU_DPB_CHECK=hardware
  WaitQueue waiters_;

  std::unique_ptr<H264Backend> backend_;  // used by the worker only
  std::unique_ptr<Vp8Backend> vp8_backend_;  // used by the worker only
  bool backend_reset_pending_ = false;
  uint64_t next_serial_ = 1;
  uint64_t generation_ = 0;               // bumped when a running job is cancelled
  bool job_running_ = false;
  bool stopping_ = false;
  bool abort_job_ = false;   // STREAMOFF/close aborts a hung job (job:hang)
  bool unplugged_ = false;   // the device went away (V4L2_EMU_FAULTS unplug)
  // The device's own timeline (V4L2_EMU_DECODE_US): when the next job became
  // runnable (both queues ready, device free), and when the last job's window
  // ended, which a job queued meanwhile starts from.
  std::optional<Clock::time_point> runnable_since_;
  Clock::time_point device_free_at_{};
  DecodeMode backend_mode_ = DecodeMode::FrameBased;
  StartCode backend_start_code_ = StartCode::AnnexB;
  std::thread worker_;
};

class VideoFile : public EmulatedFile {
 public:
  explicit VideoFile(std::shared_ptr<M2mInstance> instance) : instance_(std::move(instance)) {}
  int ioctl(int fd, unsigned long request, void* arg) override {
    return instance_->ioctl(fd, request, arg);
  }
  dev_t rdev() const override;
  NodeKind node_kind() const override { return NodeKind::Video; }
  int decoder_index() const override { return static_cast<int>(instance_->device().index()); }
  PollTarget* poll_target() override { return instance_.get(); }
  void* mmap(void* addr, size_t length, int prot, int flags, off_t offset) override {
    return instance_->mmap(addr, length, prot, flags, offset);
  }

 private:
  std::shared_ptr<M2mInstance> instance_;
};

}  // namespace emu
