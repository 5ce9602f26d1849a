import Foundation

/// The link to one authority (the reset authority, …) over URLSession: what
/// the core calls for every request of a flow such as `PinReset`.
///
/// What it guarantees to the core, like Android's `OkHttpAuthorityLink`:
/// every answer comes back as an `AuthorityResponse`, whatever its status
/// (429 and 503 included: the core reads `Retry-After`); no redirect is
/// followed (the 3xx goes to the core, which refuses it); every header the
/// core set is sent as given, the `Idempotency-Key` included; failures are
/// `LinkError`s that say whether the request may have acted — no
/// connection (cannot find or connect to the host, offline, TLS) is
/// `.Unavailable`, `URLError.timedOut` is `.Timeout`, a cancelled task is
/// `.Cancelled` (URLSession cancels the request), anything after the
/// request may have gone out is `.AnswerLost`; nothing is logged (bodies
/// carry the chip's face record and camera frames).
///
/// Unverified: there is no Swift toolchain here; scripts/suites/swift.sh
/// checks syntax and the API it calls only.
public final class URLSessionAuthorityLink: AuthorityLink, @unchecked Sendable {
    private let base: String
    private let session: URLSession

    /// The default time for one request (a policy value of ours, as the
    /// desktop and Android links': long enough for a face-check upload).
    public static let defaultTimeout: TimeInterval = 30

    /// The largest answer read (a policy value, as the other links').
    public static let maxAnswerBytes = 8 * 1024 * 1024

    /// A link to the authority at `baseURL` (`https://…`, or `http://` for
    /// a loopback sandbox with an App Transport Security exception), each
    /// request given at most `timeout` (set on `configuration`). Nil when
    /// `baseURL` has no http(s) scheme or no host.
    public init?(baseURL: String, timeout: TimeInterval = URLSessionAuthorityLink.defaultTimeout,
                 configuration: URLSessionConfiguration = .ephemeral) {
        let trimmed = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        guard let url = URL(string: trimmed), let scheme = url.scheme,
              scheme == "https" || scheme == "http", url.host != nil else { return nil }
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        base = trimmed
        session = URLSession(configuration: configuration, delegate: RefuseRedirects(), delegateQueue: nil)
    }

    public func send(request: AuthorityRequest) async throws -> AuthorityResponse {
        guard let url = URL(string: base + request.path) else {
            throw LinkError.Unavailable(reason: "the request's address is not a URL")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = Self.methodName(request.method)
        for header in request.headers {
            urlRequest.addValue(header.value, forHTTPHeaderField: header.name)
        }
        if request.method != .get {
            urlRequest.httpBody = request.body
        }
        do {
            // URLSession's async call cancels the task when this Swift task is cancelled.
            let (data, response) = try await session.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else {
                throw LinkError.AnswerLost(reason: "not an HTTP answer")
            }
            if data.count > Self.maxAnswerBytes {
                throw LinkError.AnswerLost(reason: "the answer is larger than \(Self.maxAnswerBytes) bytes")
            }
            var headers: [HttpHeader] = []
            for (name, value) in http.allHeaderFields {
                headers.append(HttpHeader(name: String(describing: name), value: String(describing: value)))
            }
            return AuthorityResponse(status: UInt16(clamping: http.statusCode), headers: headers, body: data)
        } catch let error as LinkError {
            throw error
        } catch let error as URLError {
            throw Self.linkError(error)
        } catch is CancellationError {
            throw LinkError.Cancelled
        } catch {
            throw LinkError.AnswerLost(reason: String(describing: error))
        }
    }

    static func methodName(_ method: HttpMethod) -> String {
        switch method {
        case .get: return "GET"
        case .post: return "POST"
        case .put: return "PUT"
        case .patch: return "PATCH"
        case .delete: return "DELETE"
        }
    }

    /// Sorts a URLSession failure by whether the request may have acted.
    static func linkError(_ error: URLError) -> LinkError {
        switch error.code {
        case .cannotFindHost, .cannotConnectToHost, .dnsLookupFailed, .notConnectedToInternet,
             .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
             .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot, .clientCertificateRejected,
             .appTransportSecurityRequiresSecureConnection, .unsupportedURL, .badURL,
             .internationalRoamingOff, .dataNotAllowed:
            return .Unavailable(reason: error.localizedDescription)
        case .timedOut:
            return .Timeout
        case .cancelled:
            return .Cancelled
        default:
            return .AnswerLost(reason: error.localizedDescription)
        }
    }
}

/// Hands a redirect back as the answer instead of following it.
private final class RefuseRedirects: NSObject, URLSessionTaskDelegate {
    func urlSession(_ session: URLSession, task: URLSessionTask,
                    willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest) async -> URLRequest? {
        nil
    }
}
