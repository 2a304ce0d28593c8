#include "counters.h"

#include <drm.h>
#include <fcntl.h>
#include <linux/media.h>
#include <linux/videodev2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

#include "unique_fd.h"

namespace emu {

std::string ioctl_name(unsigned long request) {
#define EMU_IOCTL_NAME(x) \
  case x: return #x;
  switch (request) {
    EMU_IOCTL_NAME(VIDIOC_QUERYCAP)
    EMU_IOCTL_NAME(VIDIOC_ENUM_FMT)
    EMU_IOCTL_NAME(VIDIOC_G_FMT)
    EMU_IOCTL_NAME(VIDIOC_S_FMT)
    EMU_IOCTL_NAME(VIDIOC_TRY_FMT)
    EMU_IOCTL_NAME(VIDIOC_ENUM_FRAMESIZES)
    EMU_IOCTL_NAME(VIDIOC_REQBUFS)
    EMU_IOCTL_NAME(VIDIOC_CREATE_BUFS)
    EMU_IOCTL_NAME(VIDIOC_QUERYBUF)
    EMU_IOCTL_NAME(VIDIOC_EXPBUF)
    EMU_IOCTL_NAME(VIDIOC_QBUF)
    EMU_IOCTL_NAME(VIDIOC_DQBUF)
    EMU_IOCTL_NAME(VIDIOC_PREPARE_BUF)
    EMU_IOCTL_NAME(VIDIOC_STREAMON)
    EMU_IOCTL_NAME(VIDIOC_STREAMOFF)
    EMU_IOCTL_NAME(VIDIOC_G_EXT_CTRLS)
    EMU_IOCTL_NAME(VIDIOC_S_EXT_CTRLS)
    EMU_IOCTL_NAME(VIDIOC_TRY_EXT_CTRLS)
    EMU_IOCTL_NAME(VIDIOC_G_CTRL)
    EMU_IOCTL_NAME(VIDIOC_S_CTRL)
    EMU_IOCTL_NAME(VIDIOC_QUERY_EXT_CTRL)
    EMU_IOCTL_NAME(VIDIOC_QUERYCTRL)
    EMU_IOCTL_NAME(VIDIOC_QUERYMENU)
    EMU_IOCTL_NAME(VIDIOC_G_SELECTION)
    EMU_IOCTL_NAME(VIDIOC_SUBSCRIBE_EVENT)
    EMU_IOCTL_NAME(VIDIOC_DQEVENT)
    EMU_IOCTL_NAME(VIDIOC_G_PRIORITY)
    EMU_IOCTL_NAME(VIDIOC_ENUMINPUT)
    EMU_IOCTL_NAME(VIDIOC_G_INPUT)
    EMU_IOCTL_NAME(VIDIOC_ENUMOUTPUT)
    EMU_IOCTL_NAME(VIDIOC_G_OUTPUT)
    EMU_IOCTL_NAME(VIDIOC_ENUMSTD)
    EMU_IOCTL_NAME(VIDIOC_G_STD)
    EMU_IOCTL_NAME(VIDIOC_G_PARM)
    EMU_IOCTL_NAME(VIDIOC_DECODER_CMD)
    EMU_IOCTL_NAME(VIDIOC_TRY_DECODER_CMD)
    EMU_IOCTL_NAME(VIDIOC_LOG_STATUS)
    EMU_IOCTL_NAME(MEDIA_IOC_DEVICE_INFO)
    EMU_IOCTL_NAME(MEDIA_IOC_G_TOPOLOGY)
    EMU_IOCTL_NAME(MEDIA_IOC_ENUM_ENTITIES)
    EMU_IOCTL_NAME(MEDIA_IOC_ENUM_LINKS)
    EMU_IOCTL_NAME(MEDIA_IOC_REQUEST_ALLOC)
    EMU_IOCTL_NAME(MEDIA_REQUEST_IOC_QUEUE)
    EMU_IOCTL_NAME(MEDIA_REQUEST_IOC_REINIT)
    EMU_IOCTL_NAME(DRM_IOCTL_VERSION)
    EMU_IOCTL_NAME(DRM_IOCTL_GET_CAP)
    EMU_IOCTL_NAME(DRM_IOCTL_GET_MAGIC)
    EMU_IOCTL_NAME(DRM_IOCTL_PRIME_FD_TO_HANDLE)
    default: {
      char buffer[32];
      std::snprintf(buffer, sizeof(buffer), "0x%08lx", request);
      return buffer;
    }
  }
#undef EMU_IOCTL_NAME
}

void Counters::count_ioctl(unsigned long request) {
  std::string name = ioctl_name(request);
  std::lock_guard lock(ioctl_mutex_);
  ioctls_[name]++;
}

void Counters::request_queued() {
  const uint64_t now = static_cast<uint64_t>(++in_flight_);
  uint64_t seen = max_in_flight_.load();
  while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
  }
}

void Counters::job_timed(const JobTiming& timing) {
  const auto backend_us = static_cast<uint64_t>(timing.backend.count());
  jobs_++;
  if (timing.over_budget) jobs_over_budget_++;
  backend_us_total_ += backend_us;
  uint64_t seen = backend_us_max_.load();
  while (backend_us > seen && !backend_us_max_.compare_exchange_weak(seen, backend_us)) {
  }
  device_busy_us_ += static_cast<uint64_t>(timing.busy.count());
  late_us_total_ += static_cast<uint64_t>(timing.late.count());
}

CounterSnapshot Counters::snapshot() const {
  CounterSnapshot out;
  out.frames_decoded = frames_decoded_;
  out.errors = errors_;
  out.dpb_mismatches = dpb_mismatches_;
  out.requests_allocated = requests_allocated_;
  out.max_requests_in_flight = max_in_flight_;
  out.jobs = jobs_;
  out.jobs_over_budget = jobs_over_budget_;
  out.backend_us_total = backend_us_total_;
  out.backend_us_max = backend_us_max_;
  out.device_busy_us = device_busy_us_;
  out.late_us_total = late_us_total_;
  std::lock_guard lock(ioctl_mutex_);
  out.ioctls = ioctls_;
  return out;
}

void Counters::reset() {
  frames_decoded_ = errors_ = dpb_mismatches_ = requests_allocated_ = max_in_flight_ = 0;
  jobs_ = jobs_over_budget_ = backend_us_total_ = backend_us_max_ = device_busy_us_ =
      late_us_total_ = 0;
  in_flight_ = 0;
  std::lock_guard lock(ioctl_mutex_);
  ioctls_.clear();
}

std::string Counters::to_json(int pid, const std::string& profile, unsigned decode_us,
                              const std::string& extra_fields) const {
  const CounterSnapshot s = snapshot();
  std::string json = "{\"pid\":" + std::to_string(pid) + ",\"profile\":\"" + profile +
                     "\",\"frames_decoded\":" + std::to_string(s.frames_decoded) +
                     ",\"errors\":" + std::to_string(s.errors) +
                     ",\"dpb_mismatches\":" + std::to_string(s.dpb_mismatches) +
                     ",\"requests_allocated\":" + std::to_string(s.requests_allocated) +
                     ",\"max_requests_in_flight\":" + std::to_string(s.max_requests_in_flight) +
                     ",\"decode_us\":" + std::to_string(decode_us) +
                     ",\"jobs\":" + std::to_string(s.jobs) +
                     ",\"jobs_over_budget\":" + std::to_string(s.jobs_over_budget) +
                     ",\"backend_us_total\":" + std::to_string(s.backend_us_total) +
                     ",\"backend_us_max\":" + std::to_string(s.backend_us_max) +
                     ",\"device_busy_us\":" + std::to_string(s.device_busy_us) +
                     ",\"late_us_total\":" + std::to_string(s.late_us_total) +
                     ",\"ioctls\":{";
  bool first = true;
  for (const auto& [name, count] : s.ioctls) {
    json += (first ? "\"" : ",\"") + name + "\":" + std::to_string(count);
    first = false;
  }
  json += "}";
  if (!extra_fields.empty()) json += "," + extra_fields;
  json += "}";
  return json;
}

bool append_line(const std::string& path, const std::string& line) {
  UniqueFd fd(static_cast<int>(
      ::syscall(SYS_openat, AT_FDCWD, path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)));
  if (!fd.valid()) return false;
  const std::string text = line + "\n";
  return ::syscall(SYS_write, fd.get(), text.data(), text.size()) ==
         static_cast<long>(text.size());
}

}  // namespace emu
