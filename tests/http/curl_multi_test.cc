// A real library that owns its sockets, driven from a fiber with no extra
// thread: libcurl's multi-socket interface fetching from the HTTP example
// service in the same runtime. libcurl tells us which descriptors it wants
// watched (CURLMOPT_SOCKETFUNCTION) and when it wants to be called back
// (CURLMOPT_TIMERFUNCTION); the driver keeps those descriptors in an epoll
// set of its own and parks on that set's descriptor with
// weft::os::wait_readable, its deadline being libcurl's timer. On both
// backends (the ring's POLL_ADD, the epoll backend's nested epoll).
#include <curl/curl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <map>
#include <string>
#include <vector>

#include "examples/http/server.h"
#include "http/test_server.h"
#include "support/runtime.h"

using namespace std::chrono_literals;

namespace {

// Runs a set of libcurl transfers to the end on the calling fiber.
class CurlDriver {
 public:
  CurlDriver() : multi_(curl_multi_init()), epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
    BOOST_REQUIRE(multi_ != nullptr);
    BOOST_REQUIRE(epfd_ >= 0);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlDriver::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlDriver::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  }
  ~CurlDriver() {
    for (auto& [easy, t] : transfers_) {
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
    }
    curl_multi_cleanup(multi_);
    ::close(epfd_);
  }

  struct Transfer {
    std::string sent;
    std::string received;
    CURLcode result = CURLE_AGAIN;  // until it ends
    long status = 0;
  };

  Transfer& add(const std::string& url, std::string body = {}) {
    CURL* easy = curl_easy_init();
    Transfer& t = transfers_[easy];
    t.sent = std::move(body);
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &CurlDriver::on_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
    if (!t.sent.empty()) {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t.sent.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(t.sent.size()));
    }
    curl_multi_add_handle(multi_, easy);
    return t;
  }

  // Until every transfer has ended; returns how many times the fiber parked.
  int run() {
    int running = 0;
    int parks = 0;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    while (running > 0) {
      ++parks;
      auto ready = weft::os::wait_readable(epfd_, {.deadline = timer_});
      if (!ready) {
        BOOST_REQUIRE((ready.error() == std::errc::timed_out));
        timer_ = weft::kNoDeadline;
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
        continue;
      }
      epoll_event events[16];
      const int n = ::epoll_wait(epfd_, events, 16, 0);
      for (int i = 0; i < n; ++i) {
        int flags = 0;
        if ((events[i].events & EPOLLIN) != 0) flags |= CURL_CSELECT_IN;
        if ((events[i].events & EPOLLOUT) != 0) flags |= CURL_CSELECT_OUT;
        if ((events[i].events & (EPOLLERR | EPOLLHUP)) != 0) flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(multi_, events[i].data.fd, flags, &running);
      }
      if (timer_ != weft::kNoDeadline && weft::Clock::now() >= timer_) {
        timer_ = weft::kNoDeadline;
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
      }
    }
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      Transfer& t = transfers_[m->easy_handle];
      t.result = m->data.result;
      curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &t.status);
    }
    return parks;
  }

 private:
  static int on_socket(CURL*, curl_socket_t s, int what, void* self, void*) {
    auto* d = static_cast<CurlDriver*>(self);
    if (what == CURL_POLL_REMOVE) {
      (void)::epoll_ctl(d->epfd_, EPOLL_CTL_DEL, s, nullptr);
      return 0;
    }
    epoll_event ev{};
    ev.events = ((what & CURL_POLL_IN) != 0 ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) != 0 ? EPOLLOUT : 0u);
    ev.data.fd = s;
    if (::epoll_ctl(d->epfd_, EPOLL_CTL_MOD, s, &ev) != 0) (void)::epoll_ctl(d->epfd_, EPOLL_CTL_ADD, s, &ev);
    return 0;
  }
  static int on_timer(CURLM*, long ms, void* self) {
    auto* d = static_cast<CurlDriver*>(self);
    d->timer_ = ms < 0 ? weft::kNoDeadline : weft::after(std::chrono::milliseconds(ms));
    return 0;
  }
  static size_t on_data(char* p, size_t size, size_t n, void* transfer) {
    static_cast<Transfer*>(transfer)->received.append(p, size * n);
    return size * n;
  }

  CURLM* multi_;
  int epfd_;
  weft::Deadline timer_ = weft::kNoDeadline;
  std::map<CURL*, Transfer> transfers_;
};

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(libcurl_from_fibers)

BOOST_AUTO_TEST_CASE(eight_transfers_at_once_on_one_fiber_with_no_extra_thread) {
  CurlGlobal curl;
  weft::test::run([] {
    weft::test::TestServer service;
    CurlDriver driver;
    std::vector<CurlDriver::Transfer*> posts;
    std::vector<CurlDriver::Transfer*> pings;
    for (int i = 0; i < 4; ++i) {
      std::string body(100'000 + i, static_cast<char>('a' + i));
      posts.push_back(&driver.add(service.url("/echo"), std::move(body)));
      pings.push_back(&driver.add(service.url("/ping")));
    }
    const int parks = driver.run();
    for (const CurlDriver::Transfer* t : posts) {
      BOOST_TEST(t->result == CURLE_OK, curl_easy_strerror(t->result));
      BOOST_TEST(t->status == 200);
      BOOST_TEST((t->received == t->sent));
    }
    for (const CurlDriver::Transfer* t : pings) {
      BOOST_TEST(t->result == CURLE_OK, curl_easy_strerror(t->result));
      BOOST_TEST(t->received == "pong\n");
    }
    BOOST_TEST(parks > 1);  // it waited for the sockets, rather than spinning
  });
}

BOOST_AUTO_TEST_CASE(a_refused_connection_is_libcurl_s_error_and_the_driver_ends) {
  CurlGlobal curl;
  weft::test::run([] {
    // A port nobody listens on: bind one, note it, close it (close() waits;
    // a destructor would close in the background).
    auto l = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
    const std::string url = "http://127.0.0.1:" + std::to_string(l.local_address().value().port()) + "/ping";
    l.close().value();
    CurlDriver driver;
    CurlDriver::Transfer& t = driver.add(url);
    driver.run();
    BOOST_TEST(t.result == CURLE_COULDNT_CONNECT, curl_easy_strerror(t.result));
  });
}

BOOST_AUTO_TEST_SUITE_END()
