// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Stackful fibers for fda::local_cluster's worker pool: several workers on one OS thread,
/// each with its own stack, switched cooperatively at the cluster's barriers.
///
/// Built on the C library's ucontext (makecontext/swapcontext: glibc, musl with libucontext,
/// macOS), not on any other library. FDA_HAS_FIBERS says whether this platform has it.
/// Stacks are mapped with a guard page below them, so an overflow faults instead of
/// corrupting a neighbour. Under AddressSanitizer and ThreadSanitizer every switch is
/// announced to the sanitizer (its fiber API), so both follow the stacks.
#if defined(__has_include)
#if __has_include(<ucontext.h>) && __has_include(<sys/mman.h>) && !defined(_WIN32)
#define FDA_HAS_FIBERS 1
#endif
#endif
#ifndef FDA_HAS_FIBERS
#define FDA_HAS_FIBERS 0
#endif

#if FDA_HAS_FIBERS
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <utility>

#include "../error.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define FDA_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FDA_FIBER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define FDA_FIBER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FDA_FIBER_TSAN 1
#endif
#endif

#ifdef FDA_FIBER_ASAN
extern "C" void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, std::size_t* size_old);
#endif
#ifdef FDA_FIBER_TSAN
extern "C" void* __tsan_get_current_fiber();
extern "C" void* __tsan_create_fiber(unsigned flags);
extern "C" void __tsan_destroy_fiber(void* fiber);
extern "C" void __tsan_switch_to_fiber(void* fiber, unsigned flags);
#endif

namespace fda::detail {

/// One fiber: a body run on its own stack, resumed by the thread that owns it until it
/// suspends itself (suspend()) or its body returns. A body must not let an exception out
/// (the pool catches them), and a fiber must not suspend inside a catch handler (the C++
/// runtime keeps the exceptions being handled per thread, not per fiber).
class fiber {
 public:
  /// A fiber that will run body() on a stack of stack_bytes (rounded up to whole pages).
  fiber(std::function<void()> body, std::size_t stack_bytes) : body_(std::move(body)) {
    const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
    size_ = (stack_bytes + page - 1) / page * page;
    mapping_ = mmap(nullptr, size_ + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapping_ == MAP_FAILED) fail("fda::local_cluster: cannot map a worker's stack of ", size_ + page, " bytes");
    mprotect(mapping_, page, PROT_NONE);  // the guard page: the stack grows down onto it
    stack_ = static_cast<char*>(mapping_) + page;
    page_ = page;
    getcontext(&context_);
    context_.uc_stack.ss_sp = stack_;
    context_.uc_stack.ss_size = size_;
    context_.uc_link = nullptr;
    const auto self = reinterpret_cast<std::uintptr_t>(this);
    makecontext(&context_, reinterpret_cast<void (*)()>(&fiber::entry), 2, unsigned(self >> 32),
                unsigned(self & 0xffffffffu));
#ifdef FDA_FIBER_TSAN
    tsan_fiber_ = __tsan_create_fiber(0);
#endif
  }
  fiber(const fiber&) = delete;
  fiber& operator=(const fiber&) = delete;
  ~fiber() {
#ifdef FDA_FIBER_TSAN
    __tsan_destroy_fiber(tsan_fiber_);
#endif
    munmap(mapping_, size_ + page_);
  }

  /// Runs the fiber on this thread until it suspends or finishes.
  void resume() {
#ifdef FDA_FIBER_TSAN
    caller_tsan_ = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(tsan_fiber_, 0);
#endif
#ifdef FDA_FIBER_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, stack_, size_);
#endif
    current() = this;
    swapcontext(&return_to_, &context_);
    current() = nullptr;
#ifdef FDA_FIBER_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  }

  /// Called on the fiber: back to the thread that resumed it (which resumes it later).
  void suspend() { switch_out(false); }

  /// True once the body has returned.
  bool finished() const noexcept { return finished_; }

  /// The fiber running on this thread, or nullptr on a plain thread.
  static fiber*& current() noexcept {
    thread_local fiber* running = nullptr;
    return running;
  }

 private:
  static void entry(unsigned high, unsigned low) {
    auto* self = reinterpret_cast<fiber*>((std::uintptr_t(high) << 32) | std::uintptr_t(low));
#ifdef FDA_FIBER_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &self->caller_bottom_, &self->caller_size_);
#endif
    self->body_();  // (the pool's bodies catch everything)
    self->finished_ = true;
    self->switch_out(true);
  }

  void switch_out(bool last) {
#ifdef FDA_FIBER_ASAN
    __sanitizer_start_switch_fiber(last ? nullptr : &fake_stack_, caller_bottom_, caller_size_);
#else
    (void)last;
#endif
#ifdef FDA_FIBER_TSAN
    __tsan_switch_to_fiber(caller_tsan_, 0);
#endif
    swapcontext(&context_, &return_to_);
#ifdef FDA_FIBER_ASAN
    __sanitizer_finish_switch_fiber(fake_stack_, &caller_bottom_, &caller_size_);
#endif
  }

  std::function<void()> body_;
  void* mapping_ = nullptr;
  char* stack_ = nullptr;
  std::size_t size_ = 0, page_ = 0;
  ucontext_t context_{}, return_to_{};
  bool finished_ = false;
#ifdef FDA_FIBER_ASAN
  void* fake_stack_ = nullptr;
  const void* caller_bottom_ = nullptr;
  std::size_t caller_size_ = 0;
#endif
#ifdef FDA_FIBER_TSAN
  void* tsan_fiber_ = nullptr;
  void* caller_tsan_ = nullptr;
#endif
};

}  // namespace fda::detail
#endif
