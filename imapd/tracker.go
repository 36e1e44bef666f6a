package imapd

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/stratamail/continuity/store"
)

// folderTracker feeds a folder's changes to go-imap's MailboxTracker,
// which turns them into EXISTS, EXPUNGE and FETCH updates for every
// session that has the folder selected.
//
// Every method of the MailboxTracker and of its SessionTrackers that
// reads or changes the message count runs under the folder lock: store
// calls the Observer methods with it held, and sessions call
// DecodeSeqNum and EncodeSeqNum only inside Folder.Locked. beta.8's
// tracker reads its count without its own lock (a data race) and
// panics on an out-of-range expunge; store reports each expunge with
// the position it has just before removal, so it never is.
type folderTracker struct {
	mt *imapserver.MailboxTracker
}

var _ store.Observer = (*folderTracker)(nil)

// trackerOf returns the folder's tracker, creating it on first use with
// the folder's current count. Call with the folder locked.
func trackerOf(v *store.View) *imapserver.MailboxTracker {
	if t, ok := v.Observer().(*folderTracker); ok {
		return t.mt
	}
	t := &folderTracker{mt: imapserver.NewMailboxTracker(uint32(v.Len()))}
	v.SetObserver(t)
	return t.mt
}

// Expunged queues an EXPUNGE for every session.
func (t *folderTracker) Expunged(seq uint32) { t.mt.QueueExpunge(seq) }

// Appended queues an EXISTS. One update per message: beta.8's
// EncodeSeqNum only hides a new message from a session that has not
// seen its EXISTS when the count grew by one.
func (t *folderTracker) Appended(count uint32) {
	t.mt.QueueNumMessages(count)
}

// FlagsChanged queues a FETCH FLAGS for every session but source.
func (t *folderTracker) FlagsChanged(seq uint32, m store.Message,
	source any) {
	src, _ := source.(*imapserver.SessionTracker)
	t.mt.QueueMessageFlags(seq, imap.UID(m.UID), imapFlags(m.Flags), src)
}
