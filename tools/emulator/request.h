// A media request (Documentation/userspace-api/media/mediactl/request-api.rst).
// Its fd is one end of an AF_UNIX socketpair: completion sends one MSG_OOB
// byte, which poll/select/epoll report natively as POLLPRI/exceptfds/EPOLLPRI.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "controls.h"
#include "fd_table.h"
#include "unique_fd.h"

namespace emu {

class EmulatedDevice;
class M2mInstance;

class Request : public std::enable_shared_from_this<Request> {
 public:
  enum class State { Idle, Queued, Complete };

  // Creates a request and its client fd (O_CLOEXEC, as MEDIA_IOC_REQUEST_ALLOC).
  static std::shared_ptr<Request> create(std::shared_ptr<EmulatedDevice> device, int& client_fd,
                                         int& error);

  // All of these need device().mutex held.
  int queue();   // MEDIA_REQUEST_IOC_QUEUE
  int reinit();  // MEDIA_REQUEST_IOC_REINIT
  State state() const { return state_; }
  size_t buffer_count() const { return buffers_.size(); }
  void bind_buffer(const std::shared_ptr<M2mInstance>& instance, uint32_t index);
  void unbind_buffer(const M2mInstance* instance, uint32_t index);
  // The buffer finished (done or cancelled); `values` are the instance's
  // control values after the job, kept for G_EXT_CTRLS(REQUEST_VAL).
  void buffer_completed(const M2mInstance* instance, uint32_t index, const ControlValues& values);
  ControlValues& controls_for(uint64_t instance_serial) { return controls_[instance_serial]; }
  const ControlValues* controls_of(uint64_t instance_serial) const;
  const ControlValues& completed_values() const { return completed_values_; }
  EmulatedDevice& device() { return *device_; }

  int poll_events(short requested) const;

 private:
  explicit Request(std::shared_ptr<EmulatedDevice> device) : device_(std::move(device)) {}
  void complete();
  void clear_signal();

  struct BoundBuffer {
    std::weak_ptr<M2mInstance> instance;
    const M2mInstance* raw;
    uint32_t index;
    bool completed;
  };
  std::shared_ptr<EmulatedDevice> device_;
  State state_ = State::Idle;
  std::vector<BoundBuffer> buffers_;
  std::map<uint64_t, ControlValues> controls_;
  ControlValues completed_values_;
  UniqueFd signal_sender_;  // our end of the socketpair
  UniqueFd client_end_;     // a dup of the client's end, to clear the OOB byte
  bool signalled_ = false;
};

class RequestFile : public EmulatedFile {
 public:
  explicit RequestFile(std::shared_ptr<Request> request) : request_(std::move(request)) {}
  int ioctl(int fd, unsigned long request, void* arg) override;
  dev_t rdev() const override { return 0; }
  NodeKind node_kind() const override { return NodeKind::Request; }
  int decoder_index() const override;
  int poll_events(short requested) override;
  const std::shared_ptr<Request>& request() const { return request_; }

 private:
  std::shared_ptr<Request> request_;
};

}  // namespace emu
