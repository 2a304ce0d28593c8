// VA buffers: parameter and slice data buffers are copied into driver memory;
// a derived image's buffer maps the CAPTURE buffer itself.
#include <cstring>

#include "driver.h"

namespace v4l2va::va {

VAStatus CreateBuffer(VADriverContextP ctx, VAContextID context, VABufferType type, unsigned int size,
                      unsigned int num_elements, void* data, VABufferID* id) {
  Driver& d = driver_of(ctx);
  switch (type) {
    case VAPictureParameterBufferType:
    case VAIQMatrixBufferType:
    case VASliceParameterBufferType:
    case VASliceDataBufferType:
    case VAImageBufferType:
      break;
    default:
      d.log.errorf("vaCreateBuffer: buffer type %d not supported", type);
      return VA_STATUS_ERROR_UNSUPPORTED_BUFFERTYPE;
  }
  if (size == 0 || num_elements == 0 || size_t(size) * num_elements > (size_t(1) << 30))
    return VA_STATUS_ERROR_INVALID_PARAMETER;
  auto buffer = std::make_shared<Buffer>();
  buffer->type = type;
  buffer->element_size = size;
  buffer->num_elements = num_elements;
  buffer->context = context;
  buffer->data.resize(size_t(size) * num_elements);
  if (data) std::memcpy(buffer->data.data(), data, buffer->data.size());
  *id = d.buffers.insert(buffer);
  return VA_STATUS_SUCCESS;
}

VAStatus BufferSetNumElements(VADriverContextP ctx, VABufferID id, unsigned int num_elements) {
  auto buffer = driver_of(ctx).buffers.find(id);
  if (!buffer) return VA_STATUS_ERROR_INVALID_BUFFER;
  if (buffer->external || num_elements == 0) return VA_STATUS_ERROR_INVALID_PARAMETER;
  buffer->num_elements = num_elements;
  buffer->data.resize(size_t(buffer->element_size) * num_elements);
  return VA_STATUS_SUCCESS;
}

VAStatus MapBuffer(VADriverContextP ctx, VABufferID id, void** pbuf) {
  auto buffer = driver_of(ctx).buffers.find(id);
  if (!buffer) return VA_STATUS_ERROR_INVALID_BUFFER;
  *pbuf = buffer->bytes();
  return VA_STATUS_SUCCESS;
}

VAStatus UnmapBuffer(VADriverContextP ctx, VABufferID id) {
  return driver_of(ctx).buffers.find(id) ? VA_STATUS_SUCCESS : VA_STATUS_ERROR_INVALID_BUFFER;
}

VAStatus DestroyBuffer(VADriverContextP ctx, VABufferID id) {
  return driver_of(ctx).buffers.remove(id) ? VA_STATUS_SUCCESS : VA_STATUS_ERROR_INVALID_BUFFER;
}

VAStatus BufferInfo(VADriverContextP ctx, VABufferID id, VABufferType* type, unsigned int* size,
                    unsigned int* num_elements) {
  auto buffer = driver_of(ctx).buffers.find(id);
  if (!buffer) return VA_STATUS_ERROR_INVALID_BUFFER;
  *type = buffer->type;
  *size = buffer->element_size;
  *num_elements = buffer->num_elements;
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va::va
