// V4L2_EMU_RECORD: one JSON line per completed request with every field of
// every H.264 control it carried, named as in the uAPI structs, so a run can
// be compared field by field with the kernel's visl trace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "h264_backend.h"

namespace emu {

std::string record_json(unsigned device_index, uint64_t timestamp_ns,
                        const H264RequestControls& controls, bool decoded_ok, size_t dpb_problems);

}  // namespace emu
