package imapd

import (
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/stratamail/continuity/store"
)

// specialUse gives the standard folders their RFC 6154 attributes.
var specialUse = map[string]imap.MailboxAttr{
	"Sent":   imap.MailboxAttrSent,
	"Drafts": imap.MailboxAttrDrafts,
	"Trash":  imap.MailboxAttrTrash,
	"Junk":   imap.MailboxAttrJunk,
}

// Create makes a mailbox (RFC 3501 §6.3.3).
func (s *session) Create(name string, _ *imap.CreateOptions) error {
	if err := s.acct.Create(name); err != nil {
		return s.fail(err)
	}
	return nil
}

// Delete removes a mailbox (RFC 3501 §6.3.4).
func (s *session) Delete(name string) error {
	if err := s.acct.Delete(name); err != nil {
		return s.fail(err)
	}
	return nil
}

// Rename renames a mailbox and those below it (RFC 3501 §6.3.5).
func (s *session) Rename(from, to string, _ *imap.RenameOptions) error {
	if err := s.acct.Rename(from, to); err != nil {
		return s.fail(err)
	}
	return nil
}

// Subscribe adds a name to the subscriptions (RFC 3501 §6.3.6).
func (s *session) Subscribe(name string) error {
	if err := s.acct.Subscribe(name); err != nil {
		return s.fail(err)
	}
	return nil
}

// Unsubscribe removes a name from the subscriptions (RFC 3501 §6.3.7).
func (s *session) Unsubscribe(name string) error {
	if err := s.acct.Unsubscribe(name); err != nil {
		return s.fail(err)
	}
	return nil
}

// List answers LIST and LSUB (RFC 3501 §6.3.8, §6.3.9), with CHILDREN
// (RFC 3348) and SPECIAL-USE (RFC 6154) attributes.
func (s *session) List(w *imapserver.ListWriter, ref string,
	patterns []string, opts *imap.ListOptions) error {
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter and root.
		return w.WriteList(&imap.ListData{
			Attrs:   []imap.MailboxAttr{imap.MailboxAttrNoSelect},
			Delim:   store.Delimiter,
			Mailbox: "",
		})
	}
	folders, err := s.acct.Folders()
	if err != nil {
		return s.fail(err)
	}
	subs, err := s.acct.Subscriptions()
	if err != nil {
		return s.fail(err)
	}
	for _, d := range s.listData(folders, subs, opts) {
		if matchAny(d.Mailbox, ref, patterns) {
			if err := w.WriteList(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// listData builds the candidate LIST responses: the folders, or with
// SUBSCRIBED (LSUB) the subscribed names.
func (s *session) listData(folders []store.FolderInfo, subs []string,
	opts *imap.ListOptions) []*imap.ListData {
	subscribed := map[string]bool{}
	for _, n := range subs {
		subscribed[n] = true
	}
	var out []*imap.ListData
	if opts.SelectSubscribed {
		byName := map[string]store.FolderInfo{}
		for _, f := range folders {
			byName[f.Name] = f
		}
		for _, n := range subs {
			f, ok := byName[n]
			d := folderData(f)
			d.Mailbox = n
			if !ok {
				d.Attrs = []imap.MailboxAttr{imap.MailboxAttrNoSelect}
			}
			d.Attrs = append(d.Attrs, imap.MailboxAttrSubscribed)
			out = append(out, d)
		}
		return out
	}
	for _, f := range folders {
		d := folderData(f)
		if opts.SelectSpecialUse && specialUse[f.Name] == "" {
			continue
		}
		if opts.ReturnSubscribed && subscribed[f.Name] {
			d.Attrs = append(d.Attrs, imap.MailboxAttrSubscribed)
		}
		out = append(out, d)
	}
	return out
}

// folderData returns the LIST response of one folder.
func folderData(f store.FolderInfo) *imap.ListData {
	d := &imap.ListData{Delim: store.Delimiter, Mailbox: f.Name}
	if !f.Exists {
		d.Attrs = append(d.Attrs, imap.MailboxAttrNoSelect)
	}
	if f.HasChildren {
		d.Attrs = append(d.Attrs, imap.MailboxAttrHasChildren)
	} else {
		d.Attrs = append(d.Attrs, imap.MailboxAttrHasNoChildren)
	}
	if a := specialUse[f.Name]; a != "" {
		d.Attrs = append(d.Attrs, a)
	}
	return d
}

// matchAny reports whether name matches one of the patterns under ref.
// INBOX matches case-insensitively (RFC 3501 §5.1).
func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		r, pat := ref, p
		if name == store.Inbox {
			r, pat = strings.ToUpper(ref), strings.ToUpper(p)
		}
		if imapserver.MatchList(name, store.Delimiter, r, pat) {
			return true
		}
	}
	return false
}

// Status answers STATUS (RFC 3501 §6.3.10). Every field is filled
// whatever was asked: beta.8 dereferences the ones asked for, and a nil
// one panics the connection.
func (s *session) Status(name string,
	_ *imap.StatusOptions) (*imap.StatusData, error) {
	f, err := s.acct.Folder(name)
	if err != nil {
		return nil, s.fail(err)
	}
	var d imap.StatusData
	err = f.Locked(func(v *store.View) error {
		d = statusOf(v)
		return nil
	})
	if err != nil {
		return nil, s.fail(err)
	}
	d.Mailbox = name // as the client spelled it
	return &d, nil
}

// statusOf counts a folder's messages for STATUS.
func statusOf(v *store.View) imap.StatusData {
	var msgs, unseen, deleted, zero uint32
	var size, delSize int64
	for i := 0; i < v.Len(); i++ {
		m := v.At(i)
		msgs++
		size += m.Size
		if !m.Has(store.FlagSeen) {
			unseen++
		}
		if m.Has(store.FlagTrashed) {
			deleted++
			delSize += m.Size
		}
	}
	return imap.StatusData{
		NumMessages:    &msgs,
		NumRecent:      &zero,
		UIDNext:        imap.UID(v.UIDNext()),
		UIDValidity:    v.UIDValidity(),
		NumUnseen:      &unseen,
		NumDeleted:     &deleted,
		Size:           &size,
		DeletedStorage: &delSize,
	}
}

// Select opens a mailbox (RFC 3501 §6.3.1, §6.3.2). The session's
// tracker is created under the folder lock, so the EXISTS it reports
// and the tracker's count agree.
func (s *session) Select(name string,
	opts *imap.SelectOptions) (*imap.SelectData, error) {
	s.closeSelected()
	f, err := s.acct.Folder(name)
	if err != nil {
		return nil, s.fail(err)
	}
	sel := &selected{folder: f, readOnly: opts.ReadOnly}
	var data imap.SelectData
	err = f.Locked(func(v *store.View) error {
		sel.tracker = trackerOf(v).NewSession()
		data = selectData(v, opts.ReadOnly)
		return nil
	})
	if err != nil {
		return nil, s.fail(err)
	}
	s.sel = sel
	return &data, nil
}

// selectData fills the untagged data of SELECT and EXAMINE.
func selectData(v *store.View, readOnly bool) imap.SelectData {
	d := imap.SelectData{
		Flags:          mailboxFlags,
		PermanentFlags: mailboxFlags,
		NumMessages:    uint32(v.Len()),
		UIDNext:        imap.UID(v.UIDNext()),
		UIDValidity:    v.UIDValidity(),
	}
	if readOnly {
		d.PermanentFlags = []imap.Flag{}
	}
	for i := 0; i < v.Len(); i++ {
		if !v.At(i).Has(store.FlagSeen) {
			d.FirstUnseenSeqNum = uint32(i + 1)
			break
		}
	}
	return d
}
