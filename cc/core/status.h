// A minimal status type for the TensorFlow-free table core.
//
// The core never throws: every operation that can fail on user input returns a
// Status, and the TF kernel layer maps the code onto the matching
// tensorflow::errors constructor. Keeping the codes aligned with TF's canonical
// codes makes that mapping a plain switch.
#ifndef TFRA_CC_CORE_STATUS_H_
#define TFRA_CC_CORE_STATUS_H_

#include <string>
#include <utility>

namespace tfra {
namespace core {

enum class Code {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kFailedPrecondition,
  kDataLoss,
  kResourceExhausted,
  kInternal,
  kUnavailable,    // a remote store is down or unreachable
  kUnimplemented,  // the backend lacks an operation or a capability
};

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string msg) {
  return Status(Code::kInvalidArgument, std::move(msg));
}
inline Status FailedPrecondition(std::string msg) {
  return Status(Code::kFailedPrecondition, std::move(msg));
}
inline Status DataLoss(std::string msg) {
  return Status(Code::kDataLoss, std::move(msg));
}
inline Status ResourceExhausted(std::string msg) {
  return Status(Code::kResourceExhausted, std::move(msg));
}

inline Status Unavailable(std::string msg) {
  return Status(Code::kUnavailable, std::move(msg));
}

#define TFRA_CORE_RETURN_IF_ERROR(expr)          \
  do {                                           \
    ::tfra::core::Status _tfra_status = (expr);  \
    if (!_tfra_status.ok()) return _tfra_status; \
  } while (0)

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_STATUS_H_
