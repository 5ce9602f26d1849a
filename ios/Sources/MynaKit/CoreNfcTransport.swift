import Foundation
#if os(iOS) && canImport(CoreNFC)
import CoreNFC
#endif

/// The fields of a command APDU as CoreNFC's `NFCISO7816APDU` takes them.
///
/// `expectedResponseLength` follows CoreNFC: -1 for no Le, 256 for a short
/// Le of `00`, 65536 for an extended Le of `0000`. CoreNFC sends an extended
/// APDU when the data is longer than 255 bytes or more than 256 bytes are
/// expected, so the encoding the core chose for the link is kept.
struct CommandApduFields: Equatable {
    let cla: UInt8
    let ins: UInt8
    let p1: UInt8
    let p2: UInt8
    let data: Data
    let expectedResponseLength: Int

    /// Parses an ISO 7816-4 command APDU (cases 1–4, short or extended);
    /// nil when the bytes are not one.
    init?(_ apdu: Data) {
        let b = [UInt8](apdu)
        guard b.count >= 4 else { return nil }
        cla = b[0]; ins = b[1]; p1 = b[2]; p2 = b[3]
        let body = Array(b[4...])
        switch body.count {
        case 0:  // case 1
            data = Data(); expectedResponseLength = -1
        case 1:  // case 2 short
            data = Data(); expectedResponseLength = body[0] == 0 ? 256 : Int(body[0])
        default:
            if body[0] != 0 {
                // Short: Lc, data, optional Le.
                let lc = Int(body[0])
                if body.count == 1 + lc {
                    data = Data(body[1...]); expectedResponseLength = -1
                } else if body.count == 2 + lc {
                    data = Data(body[1...lc])
                    expectedResponseLength = body[lc + 1] == 0 ? 256 : Int(body[lc + 1])
                } else {
                    return nil
                }
            } else if body.count == 3 {
                // Case 2 extended: 00 Le1 Le2.
                let le = Int(body[1]) << 8 | Int(body[2])
                data = Data(); expectedResponseLength = le == 0 ? 65_536 : le
            } else {
                // Extended: 00 Lc1 Lc2 data [Le1 Le2].
                guard body.count > 3 else { return nil }
                let lc = Int(body[1]) << 8 | Int(body[2])
                guard lc > 0 else { return nil }
                if body.count == 3 + lc {
                    data = Data(body[3...]); expectedResponseLength = -1
                } else if body.count == 5 + lc {
                    data = Data(body[3..<(3 + lc)])
                    let le = Int(body[3 + lc]) << 8 | Int(body[4 + lc])
                    expectedResponseLength = le == 0 ? 65_536 : le
                } else {
                    return nil
                }
            }
        }
    }
}

/// Which tags refused extended-length APDUs (answered `6700`), so the next
/// session on the same tag starts short instead of spending an APDU to learn
/// it again. CoreNFC has no query for extended-length support
/// (`NFCISO7816Tag` offers none), so it is learnt, not assumed. Keyed by the
/// tag's `identifier`; after refusals by two different tags the phone itself
/// is taken to refuse. In memory only. Unverified: no Swift toolchain here.
public final class ExtendedLengthMemory: @unchecked Sendable {
    /// The memory every `CoreNfcTransport` shares by default.
    public static let shared = ExtendedLengthMemory()

    private let lock = NSLock()
    private var refusedTags: [Data] = []
    private var phoneRefuses = false

    public init() {}

    /// True when `tagIdentifier` (or, after enough refusals, any tag) refused extended length.
    public func refuses(_ tagIdentifier: Data) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return phoneRefuses || refusedTags.contains(tagIdentifier)
    }

    /// Records that `tagIdentifier` refused an extended-length APDU.
    public func remember(_ tagIdentifier: Data) {
        lock.lock(); defer { lock.unlock() }
        if !refusedTags.contains(tagIdentifier) { refusedTags.append(tagIdentifier) }
        if refusedTags.count >= 2 { phoneRefuses = true }
        if refusedTags.count > 16 { refusedTags.removeFirst() }
    }
}

/// An extended-length command: `00` then a two-byte length after the header.
func isExtendedApdu(_ command: Data) -> Bool {
    command.count >= 7 && command[command.startIndex + 4] == 0
}

#if os(iOS) && canImport(CoreNFC)
/// The card transport over CoreNFC: an `NFCISO7816Tag` from an
/// `NFCTagReaderSession` (polling `.iso14443`) that the app has connected to.
///
/// The app's Info.plist must list the card's application identifiers under
/// `com.apple.developer.nfc.readersession.iso7816.select-identifiers`
/// (ios/App/Info.plist) and the app needs the NFC tag-reading entitlement
/// (ios/App/MynaKit.entitlements). A reader session lasts at most 60 s.
public final class CoreNfcTransport: CardTransport, @unchecked Sendable {
    private let tag: NFCISO7816Tag
    private let memory: ExtendedLengthMemory

    /// A transport over a connected ISO 7816 tag.
    public init(tag: NFCISO7816Tag, memory: ExtendedLengthMemory = .shared) {
        self.tag = tag
        self.memory = memory
    }

    /// Extended length unless this tag (or this phone) refused it before:
    /// CoreNFC offers no query for it, so it is learnt from `6700` answers.
    public func capabilities() -> LinkCapabilities {
        if memory.refuses(tag.identifier) {
            return LinkCapabilities(extendedLength: false, maxTransceiveLength: 261)
        }
        return LinkCapabilities(extendedLength: true, maxTransceiveLength: 65_538)
    }

    /// Sends one APDU with `sendCommand(apdu:)`; maps a lost tag or an ended
    /// session to `TransportFailure.CardRemoved` / `.NoCard`.
    public func transmit(command: Data) async throws -> Data {
        guard let f = CommandApduFields(command) else {
            throw TransportFailure.Link(reason: "not an ISO 7816-4 command APDU")
        }
        let apdu = NFCISO7816APDU(
            instructionClass: f.cla, instructionCode: f.ins,
            p1Parameter: f.p1, p2Parameter: f.p2,
            data: f.data, expectedResponseLength: f.expectedResponseLength)
        do {
            let (data, sw1, sw2) = try await tag.sendCommand(apdu: apdu)
            if sw1 == 0x67, sw2 == 0x00, isExtendedApdu(command) {
                memory.remember(tag.identifier)
            }
            return data + Data([sw1, sw2])
        } catch let error as NFCReaderError {
            throw Self.failure(error)
        } catch {
            throw TransportFailure.Link(reason: String(describing: error))
        }
    }

    static func failure(_ error: NFCReaderError) -> TransportFailure {
        switch error.code {
        case .readerTransceiveErrorTagConnectionLost, .readerTransceiveErrorTagNotConnected:
            return .CardRemoved
        case .readerSessionInvalidationErrorUserCanceled:
            // The user closed the NFC sheet, or CardReader invalidated it
            // when the task was cancelled: a VERIFY in flight is then an
            // unknown outcome in the core, not a plain removal.
            return .Cancelled
        case .readerTransceiveErrorSessionInvalidated, .readerSessionInvalidationErrorSessionTimeout,
             .readerSessionInvalidationErrorSessionTerminatedUnexpectedly:
            return .NoCard
        default:
            return .Link(reason: error.localizedDescription)
        }
    }
}
#endif
