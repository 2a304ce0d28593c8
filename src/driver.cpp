// Entry point: libva dlopen()s v4l2_request_drv_video.so and calls
// __vaDriverInit_<major>_<minor> for the libva we were built against.
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "discovery/discovery.h"
#include "driver.h"

namespace v4l2va::va {
namespace {

// Every entry point runs behind this guard: no C++ exception may cross the
// C ABI into the client (std::bad_alloc would abort it). An allocation
// failure becomes VA_STATUS_ERROR_ALLOCATION_FAILED, anything else
// VA_STATUS_ERROR_OPERATION_FAILED, each with one log line.
template <auto Entry>
struct Guarded;

template <class... Args, VAStatus (*Entry)(VADriverContextP, Args...)>
struct Guarded<Entry> {
  static VAStatus call(VADriverContextP ctx, Args... args) noexcept {
    try {
      return Entry(ctx, args...);
    } catch (const std::bad_alloc&) {
      log_escape(ctx, "out of memory");
      return VA_STATUS_ERROR_ALLOCATION_FAILED;
    } catch (const std::exception& e) {
      log_escape(ctx, e.what());
      return VA_STATUS_ERROR_OPERATION_FAILED;
    } catch (...) {
      log_escape(ctx, "unknown exception");
      return VA_STATUS_ERROR_OPERATION_FAILED;
    }
  }
  static void log_escape(VADriverContextP ctx, const char* what) noexcept {
    try {
      if (ctx && ctx->pDriverData) driver_of(ctx).log.errorf("a VA call failed inside the driver: %s", what);
    } catch (...) {
    }
  }
};

template <auto Entry>
constexpr auto guarded = &Guarded<Entry>::call;

VAStatus Unimplemented(Driver& d, const char* call) {
  d.log.errorf("%s is not supported by this decode-only driver", call);
  return VA_STATUS_ERROR_UNIMPLEMENTED;
}

VAStatus Terminate(VADriverContextP ctx) {
  delete static_cast<Driver*>(ctx->pDriverData);
  ctx->pDriverData = nullptr;
  return VA_STATUS_SUCCESS;
}

VAStatus PutSurface(VADriverContextP ctx, VASurfaceID, void*, short, short, unsigned short, unsigned short, short,
                    short, unsigned short, unsigned short, VARectangle*, unsigned int, unsigned int) {
  return Unimplemented(driver_of(ctx), "vaPutSurface");
}
VAStatus QuerySubpictureFormats(VADriverContextP, VAImageFormat*, unsigned int* flags, unsigned int* count) {
  if (!count) return VA_STATUS_ERROR_INVALID_PARAMETER;
  if (flags) *flags = 0;
  *count = 0;
  return VA_STATUS_SUCCESS;
}
VAStatus CreateSubpicture(VADriverContextP ctx, VAImageID, VASubpictureID*) {
  return Unimplemented(driver_of(ctx), "vaCreateSubpicture");
}
VAStatus DestroySubpicture(VADriverContextP ctx, VASubpictureID) {
  return Unimplemented(driver_of(ctx), "vaDestroySubpicture");
}
VAStatus SetSubpictureImage(VADriverContextP ctx, VASubpictureID, VAImageID) {
  return Unimplemented(driver_of(ctx), "vaSetSubpictureImage");
}
VAStatus SetSubpictureChromakey(VADriverContextP ctx, VASubpictureID, unsigned int, unsigned int, unsigned int) {
  return Unimplemented(driver_of(ctx), "vaSetSubpictureChromakey");
}
VAStatus SetSubpictureGlobalAlpha(VADriverContextP ctx, VASubpictureID, float) {
  return Unimplemented(driver_of(ctx), "vaSetSubpictureGlobalAlpha");
}
VAStatus AssociateSubpicture(VADriverContextP ctx, VASubpictureID, VASurfaceID*, int, short, short, unsigned short,
                             unsigned short, short, short, unsigned short, unsigned short, unsigned int) {
  return Unimplemented(driver_of(ctx), "vaAssociateSubpicture");
}
VAStatus DeassociateSubpicture(VADriverContextP ctx, VASubpictureID, VASurfaceID*, int) {
  return Unimplemented(driver_of(ctx), "vaDeassociateSubpicture");
}
VAStatus QueryDisplayAttributes(VADriverContextP, VADisplayAttribute*, int* count) {
  if (!count) return VA_STATUS_ERROR_INVALID_PARAMETER;
  *count = 0;
  return VA_STATUS_SUCCESS;
}
VAStatus GetDisplayAttributes(VADriverContextP ctx, VADisplayAttribute*, int) {
  return Unimplemented(driver_of(ctx), "vaGetDisplayAttributes");
}
VAStatus SetDisplayAttributes(VADriverContextP ctx, VADisplayAttribute*, int) {
  return Unimplemented(driver_of(ctx), "vaSetDisplayAttributes");
}

}  // namespace

VAStatus Initialize(VADriverContextP ctx) {
  auto d = std::make_unique<Driver>(ctx);
  if (const char* t = std::getenv("LIBVA_V4L2_REQUEST_TIMEOUT_MS")) d->timeout_ms = std::max(1, std::atoi(t));
  if (const char* n = std::getenv("LIBVA_V4L2_REQUEST_SLOTS")) d->slot_count = uint32_t(std::clamp(std::atoi(n), 1, 32));
  if (const char* e = std::getenv("LIBVA_V4L2_REQUEST_SYNC_ERRORS")) d->sync_reports_errors = std::atoi(e) != 0;
  // udev + media controller, /dev/media* without udev, or the
  // LIBVA_V4L2_REQUEST_VIDEO_PATH / _MEDIA_PATH overrides (src/discovery).
  d->decoders = discover_decoders(d->log);
  if (d->decoders.empty()) {
    d->log.errorf("no usable V4L2 stateless decoder found; run v4l2-request-probe to see why");
    return VA_STATUS_ERROR_UNIMPLEMENTED;
  }
  for (const auto& decoder : d->decoders) {
    d->max_width = std::max(d->max_width, decoder.max_width);
    d->max_height = std::max(d->max_height, decoder.max_height);
  }
  ctx->pDriverData = d.release();

  ctx->version_major = VA_MAJOR_VERSION;
  ctx->version_minor = VA_MINOR_VERSION;
  ctx->max_profiles = 8;
  ctx->max_entrypoints = 1;
  ctx->max_attributes = 8;
  ctx->max_image_formats = static_cast<int>(supported_image_formats().size());
  ctx->max_subpic_formats = 1;
  ctx->max_display_attributes = 1;
  ctx->str_vendor = "v4l2-request VA driver " PROJECT_VERSION;

  VADriverVTable* vt = ctx->vtable;
  vt->vaTerminate = guarded<Terminate>;
  vt->vaQueryConfigProfiles = guarded<QueryConfigProfiles>;
  vt->vaQueryConfigEntrypoints = guarded<QueryConfigEntrypoints>;
  vt->vaGetConfigAttributes = guarded<GetConfigAttributes>;
  vt->vaCreateConfig = guarded<CreateConfig>;
  vt->vaDestroyConfig = guarded<DestroyConfig>;
  vt->vaQueryConfigAttributes = guarded<QueryConfigAttributes>;
  vt->vaCreateSurfaces = guarded<CreateSurfaces>;
  vt->vaCreateSurfaces2 = guarded<CreateSurfaces2>;
  vt->vaDestroySurfaces = guarded<DestroySurfaces>;
  vt->vaCreateContext = guarded<CreateContext>;
  vt->vaDestroyContext = guarded<DestroyContext>;
  vt->vaCreateBuffer = guarded<CreateBuffer>;
  vt->vaBufferSetNumElements = guarded<BufferSetNumElements>;
  vt->vaMapBuffer = guarded<MapBuffer>;
  vt->vaUnmapBuffer = guarded<UnmapBuffer>;
  vt->vaDestroyBuffer = guarded<DestroyBuffer>;
  vt->vaBufferInfo = guarded<BufferInfo>;
  vt->vaBeginPicture = guarded<BeginPicture>;
  vt->vaRenderPicture = guarded<RenderPicture>;
  vt->vaEndPicture = guarded<EndPicture>;
  vt->vaSyncSurface = guarded<SyncSurface>;
  vt->vaSyncSurface2 = guarded<SyncSurface2>;
  vt->vaQuerySurfaceStatus = guarded<QuerySurfaceStatus>;
  vt->vaQuerySurfaceError = guarded<QuerySurfaceError>;
  vt->vaQuerySurfaceAttributes = guarded<QuerySurfaceAttributes>;
  vt->vaExportSurfaceHandle = guarded<ExportSurfaceHandle>;
  vt->vaPutSurface = guarded<PutSurface>;
  vt->vaQueryImageFormats = guarded<QueryImageFormats>;
  vt->vaCreateImage = guarded<CreateImage>;
  vt->vaDeriveImage = guarded<DeriveImage>;
  vt->vaDestroyImage = guarded<DestroyImage>;
  vt->vaSetImagePalette = guarded<SetImagePalette>;
  vt->vaGetImage = guarded<GetImage>;
  vt->vaPutImage = guarded<PutImage>;
  vt->vaQuerySubpictureFormats = guarded<QuerySubpictureFormats>;
  vt->vaCreateSubpicture = guarded<CreateSubpicture>;
  vt->vaDestroySubpicture = guarded<DestroySubpicture>;
  vt->vaSetSubpictureImage = guarded<SetSubpictureImage>;
  vt->vaSetSubpictureChromakey = guarded<SetSubpictureChromakey>;
  vt->vaSetSubpictureGlobalAlpha = guarded<SetSubpictureGlobalAlpha>;
  vt->vaAssociateSubpicture = guarded<AssociateSubpicture>;
  vt->vaDeassociateSubpicture = guarded<DeassociateSubpicture>;
  vt->vaQueryDisplayAttributes = guarded<QueryDisplayAttributes>;
  vt->vaGetDisplayAttributes = guarded<GetDisplayAttributes>;
  vt->vaSetDisplayAttributes = guarded<SetDisplayAttributes>;
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va::va

extern "C" __attribute__((visibility("default"))) VAStatus VA_DRIVER_INIT_FUNCTION(VADriverContextP ctx) {
  try {
    return v4l2va::va::Initialize(ctx);
  } catch (const std::bad_alloc&) {
    return VA_STATUS_ERROR_ALLOCATION_FAILED;
  } catch (...) {
    return VA_STATUS_ERROR_OPERATION_FAILED;
  }
}
