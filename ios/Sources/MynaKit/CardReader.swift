import Foundation
#if os(iOS) && canImport(CoreNFC)
import CoreNFC
#endif

// UNVERIFIED: no Swift toolchain on the build machines. This file is parsed
// and its calls matched against the generated bindings by
// scripts/suites/swift.sh; it has not been compiled or run.

/// MynaKit's errors as Swift expects them: lowerCamelCase cases and
/// `LocalizedError` messages. `init(_:)` converts the generated
/// `MynaKitError` (whose cases keep UniFFI's UpperCamelCase names).
public enum MynaKitFailure: Error, Equatable, LocalizedError {
    case wrongPin(triesLeft: UInt8)
    case wrongCheckCode(triesLeft: UInt8)
    case pinBlocked
    case lastTryNeedsConfirmation
    case triesUnknownNeedsConfirmation
    case cancelled
    /// The card may have counted a try: read the PIN state before asking again.
    case verifyOutcomeUnknown(triesLeft: UInt8?)
    case cardRemoved
    case linkFailed(reason: String)
    case notSupported(reason: String)
    case malformedCardData(reason: String)
    case invalidInput(reason: String)
    case untrusted(reason: UntrustedReason)
    case pinRequired
    case sessionBusy
    case internalError(reason: String)

    /// The failure for a generated `MynaKitError`.
    public init(_ error: MynaKitError) {
        switch error {
        case let .WrongPin(triesLeft): self = .wrongPin(triesLeft: triesLeft)
        case let .WrongCheckCode(triesLeft): self = .wrongCheckCode(triesLeft: triesLeft)
        case .PinBlocked: self = .pinBlocked
        case .LastTryNeedsConfirmation: self = .lastTryNeedsConfirmation
        case .TriesUnknownNeedsConfirmation: self = .triesUnknownNeedsConfirmation
        case .Cancelled: self = .cancelled
        case let .VerifyOutcomeUnknown(triesLeft, _): self = .verifyOutcomeUnknown(triesLeft: triesLeft)
        case .CardRemoved: self = .cardRemoved
        case let .LinkFailed(reason): self = .linkFailed(reason: reason)
        case let .NotSupported(reason): self = .notSupported(reason: reason)
        case let .MalformedCardData(reason): self = .malformedCardData(reason: reason)
        case let .InvalidInput(reason): self = .invalidInput(reason: reason)
        case let .Untrusted(reason, _): self = .untrusted(reason: reason)
        case .PinRequired: self = .pinRequired
        case .SessionBusy: self = .sessionBusy
        case let .Internal(reason): self = .internalError(reason: reason)
        }
    }

    /// A message for the user (Japanese, as the card's users read it).
    public var errorDescription: String? {
        switch self {
        case let .wrongPin(triesLeft): return "暗証番号が違います（残り\(triesLeft)回）"
        case let .wrongCheckCode(triesLeft): return "カード券面の情報が一致しません（残り\(triesLeft)回）"
        case .pinBlocked: return "暗証番号がロックされています。市区町村の窓口で初期化してください"
        case .lastTryNeedsConfirmation: return "残り1回です。入力してよいか確認してください"
        case .triesUnknownNeedsConfirmation: return "残り回数を確認できません。入力してよいか確認してください"
        case .cancelled: return "読み取りを中止しました"
        case .verifyOutcomeUnknown: return "暗証番号の確認中に読み取りが中断されました。残り回数を確認してください"
        case .cardRemoved: return "カードが離れました。もう一度かざしてください"
        case .linkFailed: return "カードと通信できませんでした。もう一度かざしてください"
        case .notSupported: return "このカードまたは端末では利用できません"
        case .malformedCardData: return "カードから読み取ったデータを利用できません"
        case .invalidInput: return "入力の形式が正しくありません"
        case .untrusted: return "証明書を確認できませんでした"
        case .pinRequired: return "もう一度お試しください"
        case .sessionBusy: return "別の読み取りが実行中です"
        case .internalError: return "内部エラーが発生しました"
        }
    }
}

#if os(iOS) && canImport(CoreNFC)
/// Owns one `NFCTagReaderSession` for one card operation: shows the system
/// sheet with `alertMessage`, connects to the first ISO 7816 tag, runs `body`
/// over a `CoreNfcTransport`, and invalidates the session — with the error's
/// message on failure, and at once when the calling task is cancelled (the
/// exchange in flight then fails, and a VERIFY in flight becomes
/// `.verifyOutcomeUnknown`, never a silent cancellation).
///
/// ```swift
/// let signature = try await CardReader.run(alertMessage: "カードをかざしてください") { session in
///     try await session.signWithAuthKey(pin: pin, message: challenge, allowLastTry: false)
/// }
/// ```
/// UNVERIFIED: not compiled or run here (no Swift toolchain, no iPhone).
public final class CardReader: NSObject, NFCTagReaderSessionDelegate, @unchecked Sendable {
    private var session: NFCTagReaderSession?
    private var continuation: CheckedContinuation<NFCISO7816Tag, Error>?
    private let lock = NSLock()

    /// Runs `body` on a card session over the next card held to the phone.
    /// Errors are thrown as `MynaKitFailure`.
    public static func run<R>(
        alertMessage: String,
        progress: ProgressListener? = nil,
        _ body: @escaping (CardSession) async throws -> R
    ) async throws -> R {
        let reader = CardReader()
        return try await withTaskCancellationHandler {
            do {
                let tag = try await reader.begin(alertMessage: alertMessage)
                let session = CardSession(transport: CoreNfcTransport(tag: tag))
                session.setProgressListener(listener: progress)
                let result = try await body(session)
                reader.finish(errorMessage: nil)
                return result
            } catch let error as MynaKitError {
                let failure = MynaKitFailure(error)
                reader.finish(errorMessage: failure.errorDescription)
                throw failure
            } catch {
                reader.finish(errorMessage: error.localizedDescription)
                throw error
            }
        } onCancel: {
            reader.finish(errorMessage: nil)
        }
    }

    private func begin(alertMessage: String) async throws -> NFCISO7816Tag {
        try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            self.continuation = continuation
            let session = NFCTagReaderSession(pollingOption: [.iso14443], delegate: self, queue: nil)
            self.session = session
            lock.unlock()
            session?.alertMessage = alertMessage
            session?.begin()
        }
    }

    private func finish(errorMessage: String?) {
        lock.lock()
        let session = self.session
        self.session = nil
        lock.unlock()
        if let errorMessage {
            session?.invalidate(errorMessage: errorMessage)
        } else {
            session?.invalidate()
        }
    }

    private func resume(_ result: Result<NFCISO7816Tag, Error>) {
        lock.lock()
        let continuation = self.continuation
        self.continuation = nil
        lock.unlock()
        continuation?.resume(with: result)
    }

    public func tagReaderSessionDidBecomeActive(_ session: NFCTagReaderSession) {}

    public func tagReaderSession(_ session: NFCTagReaderSession, didInvalidateWithError error: Error) {
        let failure: Error
        if let nfc = error as? NFCReaderError {
            failure = MynaKitFailure(MynaKitError(CoreNfcTransport.failure(nfc)))
        } else {
            failure = MynaKitFailure.linkFailed(reason: error.localizedDescription)
        }
        resume(.failure(failure))
    }

    public func tagReaderSession(_ session: NFCTagReaderSession, didDetect tags: [NFCTag]) {
        guard let first = tags.first, case let .iso7816(tag) = first else {
            session.invalidate(errorMessage: "マイナンバーカードではありません")
            return
        }
        session.connect(to: first) { error in
            if let error {
                self.resume(.failure(MynaKitFailure.linkFailed(reason: error.localizedDescription)))
            } else {
                self.resume(.success(tag))
            }
        }
    }
}

extension MynaKitError {
    /// The operation error that a transport failure becomes.
    init(_ failure: TransportFailure) {
        switch failure {
        case .CardRemoved, .NoCard, .Timeout: self = .CardRemoved
        case .Cancelled: self = .Cancelled
        case let .Link(reason): self = .LinkFailed(reason: reason)
        }
    }
}
#endif
