// Entry point: libva dlopen()s v4l2_request_drv_video.so and calls
// __vaDriverInit_<major>_<minor> for the libva we were built against.
#include <algorithm>
#include <cstdlib>
#include <new>
#include <string>

#include "discovery/discovery.h"
#include "driver.h"

namespace v4l2va::va {
namespace {

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
  auto* d = new (std::nothrow) Driver(ctx);
  if (!d) return VA_STATUS_ERROR_ALLOCATION_FAILED;
  if (const char* t = std::getenv("LIBVA_V4L2_REQUEST_TIMEOUT_MS")) d->timeout_ms = std::max(1, std::atoi(t));
  if (const char* n = std::getenv("LIBVA_V4L2_REQUEST_SLOTS")) d->slot_count = uint32_t(std::clamp(std::atoi(n), 1, 32));
  // udev + media controller, /dev/media* without udev, or the
  // LIBVA_V4L2_REQUEST_VIDEO_PATH / _MEDIA_PATH overrides (src/discovery).
  d->decoders = discover_decoders(d->log);
  if (d->decoders.empty()) {
    d->log.errorf("no usable V4L2 stateless H.264 decoder found; run v4l2-request-probe to see why");
    delete d;
    return VA_STATUS_ERROR_UNIMPLEMENTED;
  }
  for (const auto& decoder : d->decoders) {
    d->max_width = std::max(d->max_width, decoder.max_width);
    d->max_height = std::max(d->max_height, decoder.max_height);
  }
  ctx->pDriverData = d;

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
  vt->vaTerminate = Terminate;
  vt->vaQueryConfigProfiles = QueryConfigProfiles;
  vt->vaQueryConfigEntrypoints = QueryConfigEntrypoints;
  vt->vaGetConfigAttributes = GetConfigAttributes;
  vt->vaCreateConfig = CreateConfig;
  vt->vaDestroyConfig = DestroyConfig;
  vt->vaQueryConfigAttributes = QueryConfigAttributes;
  vt->vaCreateSurfaces = CreateSurfaces;
  vt->vaCreateSurfaces2 = CreateSurfaces2;
  vt->vaDestroySurfaces = DestroySurfaces;
  vt->vaCreateContext = CreateContext;
  vt->vaDestroyContext = DestroyContext;
  vt->vaCreateBuffer = CreateBuffer;
  vt->vaBufferSetNumElements = BufferSetNumElements;
  vt->vaMapBuffer = MapBuffer;
  vt->vaUnmapBuffer = UnmapBuffer;
  vt->vaDestroyBuffer = DestroyBuffer;
  vt->vaBufferInfo = BufferInfo;
  vt->vaBeginPicture = BeginPicture;
  vt->vaRenderPicture = RenderPicture;
  vt->vaEndPicture = EndPicture;
  vt->vaSyncSurface = SyncSurface;
  vt->vaSyncSurface2 = SyncSurface2;
  vt->vaQuerySurfaceStatus = QuerySurfaceStatus;
  vt->vaQuerySurfaceError = QuerySurfaceError;
  vt->vaQuerySurfaceAttributes = QuerySurfaceAttributes;
  vt->vaExportSurfaceHandle = ExportSurfaceHandle;
  vt->vaPutSurface = PutSurface;
  vt->vaQueryImageFormats = QueryImageFormats;
  vt->vaCreateImage = CreateImage;
  vt->vaDeriveImage = DeriveImage;
  vt->vaDestroyImage = DestroyImage;
  vt->vaSetImagePalette = SetImagePalette;
  vt->vaGetImage = GetImage;
  vt->vaPutImage = PutImage;
  vt->vaQuerySubpictureFormats = QuerySubpictureFormats;
  vt->vaCreateSubpicture = CreateSubpicture;
  vt->vaDestroySubpicture = DestroySubpicture;
  vt->vaSetSubpictureImage = SetSubpictureImage;
  vt->vaSetSubpictureChromakey = SetSubpictureChromakey;
  vt->vaSetSubpictureGlobalAlpha = SetSubpictureGlobalAlpha;
  vt->vaAssociateSubpicture = AssociateSubpicture;
  vt->vaDeassociateSubpicture = DeassociateSubpicture;
  vt->vaQueryDisplayAttributes = QueryDisplayAttributes;
  vt->vaGetDisplayAttributes = GetDisplayAttributes;
  vt->vaSetDisplayAttributes = SetDisplayAttributes;
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va::va

extern "C" __attribute__((visibility("default"))) VAStatus VA_DRIVER_INIT_FUNCTION(VADriverContextP ctx) {
  return v4l2va::va::Initialize(ctx);
}
