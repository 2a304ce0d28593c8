// openh264-ltr: makes H.264 streams with long-term reference pictures using
// Debian's libopenh264 encoder (the only encoder in Debian 12 that writes
// them), and decodes H.264 with libopenh264's decoder (a second opinion that
// shares no code with libavcodec).
//
//   openh264-ltr encode --input in.i420 --size WxH --frames N --output out.264
//                       [--usage camera|screen] [--ltr COUNT] [--mark-period P]
//                       [--lossless-link] [--feedback] [--recover-at F,F,...]
//                       [--idr-at F,F,...] [--ref-frames N] [--temporal-layers T]
//                       [--cabac]
//   openh264-ltr decode in.264 out.i420
//
// How openh264 marks long-term pictures (wels encoder, ref_list_mgr_svc.cpp):
// with bEnableLongTermReference the IDR carries long_term_reference_flag = 1;
// later base-layer pictures are marked with MMCO 6 (current -> long-term)
// once the decoder side confirms the previous mark (LTR marking feedback, or
// bIsLosslessLink when no feedback is needed), and an LTR recovery request
// makes the encoder predict from a long-term picture (ref list
// modification with long_term_pic_num). The encoder runs a decoder in the
// loop here so the feedback is exactly what a receiving endpoint would send.
#include <wels/codec_api.h>
#include <wels/codec_app_def.h>
#include <wels/codec_def.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct EncoderDeleter {
  void operator()(ISVCEncoder* encoder) const {
    encoder->Uninitialize();
    WelsDestroySVCEncoder(encoder);
  }
};
struct DecoderDeleter {
  void operator()(ISVCDecoder* decoder) const {
    decoder->Uninitialize();
    WelsDestroyDecoder(decoder);
  }
};
using Encoder = std::unique_ptr<ISVCEncoder, EncoderDeleter>;
using Decoder = std::unique_ptr<ISVCDecoder, DecoderDeleter>;

struct EncodeOptions {
  std::string input;
  std::string output;
  int width = 0;
  int height = 0;
  int frames = 0;
  EUsageType usage = CAMERA_VIDEO_REAL_TIME;
  int ltr_count = 0;  // 0: no long-term references
  int mark_period = 30;
  bool lossless_link = false;
  bool feedback = false;
  std::set<int> recover_at;
  std::set<int> idr_at;
  int ref_frames = 1;
  int temporal_layers = 1;
  bool cabac = false;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "openh264-ltr: " << message << "\n(see the header of tools/streams/openh264_ltr.cpp)\n";
  std::exit(2);
}

std::set<int> parse_frame_list(const std::string& text) {
  std::set<int> frames;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) frames.insert(std::stoi(item));
  return frames;
}

EncodeOptions parse_encode_options(int argc, char** argv) {
  EncodeOptions options;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--input") options.input = value();
    else if (flag == "--output") options.output = value();
    else if (flag == "--size") {
      const std::string size = value();
      if (std::sscanf(size.c_str(), "%dx%d", &options.width, &options.height) != 2) usage_error("bad --size");
    } else if (flag == "--frames") options.frames = std::stoi(value());
    else if (flag == "--usage") {
      const std::string usage = value();
      if (usage == "camera") options.usage = CAMERA_VIDEO_REAL_TIME;
      else if (usage == "screen") options.usage = SCREEN_CONTENT_REAL_TIME;
      else usage_error("--usage is camera or screen");
    } else if (flag == "--ltr") options.ltr_count = std::stoi(value());
    else if (flag == "--mark-period") options.mark_period = std::stoi(value());
    else if (flag == "--lossless-link") options.lossless_link = true;
    else if (flag == "--feedback") options.feedback = true;
    else if (flag == "--recover-at") options.recover_at = parse_frame_list(value());
    else if (flag == "--idr-at") options.idr_at = parse_frame_list(value());
    else if (flag == "--ref-frames") options.ref_frames = std::stoi(value());
    else if (flag == "--temporal-layers") options.temporal_layers = std::stoi(value());
    else if (flag == "--cabac") options.cabac = true;
    else usage_error("unknown option " + flag);
  }
  if (options.input.empty() || options.output.empty() || options.width <= 0 || options.height <= 0 ||
      options.frames <= 0)
    usage_error("encode needs --input, --output, --size and --frames");
  return options;
}

SEncParamExt encoder_params(ISVCEncoder& encoder, const EncodeOptions& options) {
  SEncParamExt params;
  encoder.GetDefaultParams(&params);
  params.iUsageType = options.usage;
  params.iPicWidth = options.width;
  params.iPicHeight = options.height;
  params.fMaxFrameRate = 25.0f;
  // Fixed QP: the stream does not depend on timing or rate-control state.
  params.iRCMode = RC_OFF_MODE;
  params.iTargetBitrate = 2'000'000;
  params.bEnableFrameSkip = false;
  params.iTemporalLayerNum = options.temporal_layers;
  params.iSpatialLayerNum = 1;
  params.sSpatialLayers[0].iVideoWidth = options.width;
  params.sSpatialLayers[0].iVideoHeight = options.height;
  params.sSpatialLayers[0].fFrameRate = 25.0f;
  params.sSpatialLayers[0].iSpatialBitrate = params.iTargetBitrate;
  params.sSpatialLayers[0].iDLayerQp = 26;
  params.sSpatialLayers[0].sSliceArgument.uiSliceMode = SM_SINGLE_SLICE;
  params.uiIntraPeriod = 0;  // IDRs only where --idr-at asks
  params.iNumRefFrame = options.ref_frames;
  params.iEntropyCodingModeFlag = options.cabac ? 1 : 0;
  params.bEnableLongTermReference = options.ltr_count > 0;
  params.iLTRRefNum = options.ltr_count;
  params.iLtrMarkPeriod = static_cast<unsigned>(options.mark_period);
  params.bIsLosslessLink = options.lossless_link;
  params.iMultipleThreadIdc = 1;  // deterministic output
  params.bEnableSceneChangeDetect = false;
  params.bEnableBackgroundDetection = false;
  params.bEnableAdaptiveQuant = false;
  params.bEnableDenoise = false;
  return params;
}

Encoder make_encoder(const EncodeOptions& options) {
  ISVCEncoder* raw = nullptr;
  if (WelsCreateSVCEncoder(&raw) != 0 || raw == nullptr) {
    std::cerr << "openh264-ltr: WelsCreateSVCEncoder failed\n";
    return nullptr;
  }
  Encoder encoder(raw);
  const SEncParamExt params = encoder_params(*encoder, options);
  if (const int status = encoder->InitializeExt(&params); status != cmResultSuccess) {
    std::cerr << "openh264-ltr: InitializeExt failed with " << status << "\n";
    return nullptr;
  }
  int format = videoFormatI420;
  encoder->SetOption(ENCODER_OPTION_DATAFORMAT, &format);
  return encoder;
}

Decoder make_decoder() {
  ISVCDecoder* raw = nullptr;
  if (WelsCreateDecoder(&raw) != 0 || raw == nullptr) {
    std::cerr << "openh264-ltr: WelsCreateDecoder failed\n";
    return nullptr;
  }
  Decoder decoder(raw);
  SDecodingParam params{};
  params.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
  params.eEcActiveIdc = ERROR_CON_DISABLE;  // a second opinion must not conceal
  if (decoder->Initialize(&params) != 0) {
    std::cerr << "openh264-ltr: decoder Initialize failed\n";
    return nullptr;
  }
  return decoder;
}

// The access unit's bytes, all layers and NALs in order (Annex B).
std::vector<unsigned char> access_unit_bytes(const SFrameBSInfo& info) {
  std::vector<unsigned char> bytes;
  for (int layer = 0; layer < info.iLayerNum; ++layer) {
    const SLayerBSInfo& layer_info = info.sLayerInfo[layer];
    size_t size = 0;
    for (int nal = 0; nal < layer_info.iNalCount; ++nal) size += static_cast<size_t>(layer_info.pNalLengthInByte[nal]);
    bytes.insert(bytes.end(), layer_info.pBsBuf, layer_info.pBsBuf + size);
  }
  return bytes;
}

// Feeds the access unit to the in-loop decoder and, when the decoder saw a
// long-term mark, tells the encoder the mark arrived (what a receiver's
// LTR_MARKING_SUCCESS feedback does in a real call).
void send_marking_feedback(ISVCEncoder& encoder, ISVCDecoder& decoder, const std::vector<unsigned char>& au) {
  unsigned char* planes[3] = {};
  SBufferInfo buffer{};
  decoder.DecodeFrameNoDelay(au.data(), static_cast<int>(au.size()), planes, &buffer);
  int marked = 0;
  decoder.GetOption(DECODER_OPTION_LTR_MARKING_FLAG, &marked);
  if (!marked) return;
  int frame_num = 0;
  int idr_pic_id = 0;
  decoder.GetOption(DECODER_OPTION_LTR_MARKED_FRAME_NUM, &frame_num);
  decoder.GetOption(DECODER_OPTION_IDR_PIC_ID, &idr_pic_id);
  SLTRMarkingFeedback feedback{};
  feedback.uiFeedbackType = LTR_MARKING_SUCCESS;
  feedback.uiIDRPicId = static_cast<unsigned>(idr_pic_id);
  feedback.iLTRFrameNum = frame_num;
  feedback.iLayerId = 0;
  encoder.SetOption(ENCODER_LTR_MARKING_FEEDBACK, &feedback);
}

// Asks the encoder to predict the next picture from a long-term picture, as
// a receiver that lost frames after `last_correct_frame_num` would.
void request_ltr_recovery(ISVCEncoder& encoder, ISVCDecoder& decoder) {
  int frame_num = 0;
  int idr_pic_id = 0;
  decoder.GetOption(DECODER_OPTION_FRAME_NUM, &frame_num);
  decoder.GetOption(DECODER_OPTION_IDR_PIC_ID, &idr_pic_id);
  SLTRRecoverRequest request{};
  request.uiFeedbackType = LTR_RECOVERY_REQUEST;
  request.uiIDRPicId = static_cast<unsigned>(idr_pic_id);
  request.iLastCorrectFrameNum = frame_num > 0 ? frame_num - 1 : 0;
  request.iCurrentFrameNum = frame_num;
  request.iLayerId = 0;
  encoder.SetOption(ENCODER_LTR_RECOVERY_REQUEST, &request);
}

int encode(const EncodeOptions& options) {
  std::ifstream input(options.input, std::ios::binary);
  if (!input) {
    std::cerr << "openh264-ltr: cannot read " << options.input << "\n";
    return 1;
  }
  std::ofstream output(options.output, std::ios::binary | std::ios::trunc);
  if (!output) {
    std::cerr << "openh264-ltr: cannot write " << options.output << "\n";
    return 1;
  }
  Encoder encoder = make_encoder(options);
  Decoder decoder = make_decoder();
  if (!encoder || !decoder) return 1;

  const size_t luma = static_cast<size_t>(options.width) * static_cast<size_t>(options.height);
  std::vector<unsigned char> picture(luma * 3 / 2);
  for (int frame = 0; frame < options.frames; ++frame) {
    if (!input.read(reinterpret_cast<char*>(picture.data()), static_cast<std::streamsize>(picture.size()))) {
      std::cerr << "openh264-ltr: input ends before frame " << frame << "\n";
      return 1;
    }
    if (options.idr_at.count(frame)) encoder->ForceIntraFrame(true);
    if (options.recover_at.count(frame)) request_ltr_recovery(*encoder, *decoder);
    SSourcePicture source{};
    source.iColorFormat = videoFormatI420;
    source.iPicWidth = options.width;
    source.iPicHeight = options.height;
    source.iStride[0] = options.width;
    source.iStride[1] = source.iStride[2] = options.width / 2;
    source.pData[0] = picture.data();
    source.pData[1] = picture.data() + luma;
    source.pData[2] = picture.data() + luma + luma / 4;
    source.uiTimeStamp = frame * 40;
    SFrameBSInfo info{};
    if (const int status = encoder->EncodeFrame(&source, &info); status != cmResultSuccess) {
      std::cerr << "openh264-ltr: EncodeFrame failed with " << status << " at frame " << frame << "\n";
      return 1;
    }
    if (info.eFrameType == videoFrameTypeSkip) {
      std::cerr << "openh264-ltr: the encoder skipped frame " << frame << "\n";
      return 1;
    }
    const std::vector<unsigned char> au = access_unit_bytes(info);
    output.write(reinterpret_cast<const char*>(au.data()), static_cast<std::streamsize>(au.size()));
    if (options.feedback) send_marking_feedback(*encoder, *decoder, au);
    else {
      unsigned char* planes[3] = {};
      SBufferInfo buffer{};
      decoder->DecodeFrameNoDelay(au.data(), static_cast<int>(au.size()), planes, &buffer);
    }
  }
  return output.good() ? 0 : 1;
}

void write_picture(std::ofstream& output, unsigned char* const planes[3], const SBufferInfo& buffer) {
  const SSysMEMBuffer& layout = buffer.UsrData.sSystemBuffer;
  for (int plane = 0; plane < 3; ++plane) {
    const int width = plane == 0 ? layout.iWidth : (layout.iWidth + 1) / 2;
    const int rows = plane == 0 ? layout.iHeight : (layout.iHeight + 1) / 2;
    const int stride = layout.iStride[plane == 0 ? 0 : 1];
    for (int row = 0; row < rows; ++row)
      output.write(reinterpret_cast<const char*>(planes[plane] + static_cast<ptrdiff_t>(row) * stride), width);
  }
}

// Splits an Annex B byte stream before each start code.
std::vector<std::vector<unsigned char>> split_nal_units(const std::vector<unsigned char>& stream) {
  std::vector<size_t> starts;
  for (size_t i = 0; i + 3 <= stream.size(); ++i)
    if (stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1) {
      starts.push_back(i > 0 && stream[i - 1] == 0 ? i - 1 : i);
      i += 2;
    }
  std::vector<std::vector<unsigned char>> units;
  for (size_t n = 0; n < starts.size(); ++n) {
    const size_t end = n + 1 < starts.size() ? starts[n + 1] : stream.size();
    units.emplace_back(stream.begin() + static_cast<ptrdiff_t>(starts[n]), stream.begin() + static_cast<ptrdiff_t>(end));
  }
  return units;
}

int decode(const std::string& input_path, const std::string& output_path) {
  std::ifstream input(input_path, std::ios::binary);
  if (!input) {
    std::cerr << "openh264-ltr: cannot read " << input_path << "\n";
    return 1;
  }
  const std::vector<unsigned char> stream((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
  std::ofstream output(output_path, std::ios::binary | std::ios::trunc);
  Decoder decoder = make_decoder();
  if (!decoder || !output) return 1;
  int pictures = 0;
  for (const auto& unit : split_nal_units(stream)) {
    unsigned char* planes[3] = {};
    SBufferInfo buffer{};
    const DECODING_STATE state =
        decoder->DecodeFrameNoDelay(unit.data(), static_cast<int>(unit.size()), planes, &buffer);
    if (state != dsErrorFree) {
      std::cerr << "openh264-ltr: the decoder reported state 0x" << std::hex << state << " at picture " << std::dec
                << pictures << "\n";
      return 1;
    }
    if (buffer.iBufferStatus == 1) {
      write_picture(output, planes, buffer);
      ++pictures;
    }
  }
  int end_of_stream = 1;
  decoder->SetOption(DECODER_OPTION_END_OF_STREAM, &end_of_stream);
  unsigned char* planes[3] = {};
  SBufferInfo buffer{};
  while (decoder->FlushFrame(planes, &buffer) == dsErrorFree && buffer.iBufferStatus == 1) {
    write_picture(output, planes, buffer);
    ++pictures;
    buffer = SBufferInfo{};
  }
  std::cout << "pictures " << pictures << "\n";
  return output.good() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage_error("encode or decode");
  const std::string command = argv[1];
  if (command == "encode") return encode(parse_encode_options(argc, argv));
  if (command == "decode") {
    if (argc != 4) usage_error("decode IN.264 OUT.i420");
    return decode(argv[2], argv[3]);
  }
  usage_error("unknown command " + command);
}
